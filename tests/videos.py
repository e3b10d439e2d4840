"""Test videos whose frames say their own index: 8 vertical bands, white for a set bit."""

import numpy as np

BITS = 8


def barcode(index: int, height: int = 48, width: int = 64) -> np.ndarray:
    img = np.zeros((height, width, 3), np.uint8)
    for b in range(BITS):
        if (index >> b) & 1:
            img[:, b * width // BITS:(b + 1) * width // BITS] = 255
    img[:, :, 1] = np.uint8((index * 37) % 256) // 4  # some colour, so planes differ
    return img


def barcodes(n: int, height: int = 48, width: int = 64) -> np.ndarray:
    return np.stack([barcode(i, height, width) for i in range(n)])


def read_barcode(img: np.ndarray) -> int:
    """The index a (possibly lossy-decoded) barcode frame carries."""
    width = img.shape[1]
    value = 0
    for b in range(BITS):
        band = img[:, b * width // BITS + 2:(b + 1) * width // BITS - 2, 0]
        if band.mean() > 127:
            value |= 1 << b
    return value


def tone(seconds: float, sample_rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
