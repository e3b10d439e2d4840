"""The video data path: decode, sample clips, transform, datasets, synthetic data. Imports no model."""

from .audio import has_audio, log_mel, read_audio
from .datasets import (
    AudioConfig,
    DataError,
    SkipLog,
    VideoDataset,
    VideoItem,
    audioset_items,
    collate_videos,
    folder_items,
    hmdb51_items,
    kinetics_items,
    load_items,
    open_reader,
    read_classes,
    read_video_csv,
    sports1m_items,
    ssv2_items,
    ucf101_items,
    write_classes,
)
from .decode import VideoError, VideoMetadata, VideoReader, probe, read_clip
from .encode import write_video
from .frames import FrameFolderReader
from .reader import ClipReader, FrameReader
from .sampling import ClipSampling
from .synthetic import SynthConfig, make_synthetic_dataset
from .transforms import TransformConfig, transform_config_for

__all__ = [
    "AudioConfig", "ClipReader", "ClipSampling", "DataError", "FrameFolderReader", "FrameReader", "SkipLog",
    "SynthConfig", "TransformConfig", "VideoDataset", "VideoError", "VideoItem", "VideoMetadata", "VideoReader",
    "audioset_items", "collate_videos", "folder_items", "has_audio", "hmdb51_items", "kinetics_items", "load_items",
    "log_mel", "make_synthetic_dataset", "open_reader", "probe", "read_audio", "read_classes", "read_clip",
    "read_video_csv", "sports1m_items", "ssv2_items", "transform_config_for", "ucf101_items", "write_classes",
    "write_video",
]
