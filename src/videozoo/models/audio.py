"""Audio backbones: 2D ResNets over log-Mel spectrograms, as the G-Blend paper's ablations use.

They are rows of the residual table with every conv 2D and a single "frame";
:class:`AudioResNet` takes a spectrogram batch ``(B, 1, frames, mels)`` (the
data path's ``(1, 100, 40)`` patches) and treats it as a one-frame clip.
"""

from __future__ import annotations

from torch import Tensor

from .resnet import VideoResNet


class AudioResNet(VideoResNet):
    """Input ``(B, 1, frames, mels)`` log-Mel spectrograms (or ``(B, 1, 1, frames, mels)``); logits ``(B, K)``."""

    def as_clip(self, x: Tensor) -> Tensor:
        """A spectrogram ``(B, 1, frames, mels)`` as the network's one-frame clip ``(B, 1, 1, frames, mels)``."""
        if x.ndim == 4:
            return x.unsqueeze(2)
        if x.ndim == 5 and x.shape[2] == 1:
            return x
        raise ValueError(f"{self.name} expects spectrograms (B, {self.in_channels}, frames, mels); "
                         f"got shape {tuple(x.shape)}")

    def check_input(self, x: Tensor) -> None:
        super().check_input(self.as_clip(x))

    def forward_map(self, x: Tensor) -> Tensor:
        return super().forward_map(self.as_clip(x))
