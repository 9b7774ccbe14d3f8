"""Audio decoding: probe a header, read a segment, verify a whole file, channels, resample.

Unreadable files never crash a run: `probe` and `read_segment` raise `AudioReadError` with the
reason, which the scanner (data_pipelines.manifest) and the pipeline count and work around.

Channels (`model.channels`): audio is [T] when mono and [T, C] (soundfile's layout, time first)
otherwise. A mono model gets every file mixed down; a C-channel model gets C-channel files as
they are and mono files duplicated into every channel (`to_channels`); a file with some other
number of channels has no agreed mapping (5.1 into stereo needs its layout) and is unreadable
for that model.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import soundfile as sf
import soxr

log = logging.getLogger(__name__)

from data_pipelines.specs import EMBEDDED_DIR  # noqa: F401  (re-exported)
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".opus")


class AudioReadError(RuntimeError):
    """A file could not be decoded into finite audio samples."""


@dataclasses.dataclass(frozen=True)
class AudioFile:
    """One audio file as a manifest line describes it (kind and split are optional labels)."""

    path: str
    frames: int
    sample_rate: int
    channels: int
    kind: str = ""
    split: str = ""

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def probe(path: str, kind: str = "", split: str = "") -> AudioFile:
    """Reads the header; raises AudioReadError for unreadable or empty files."""
    try:
        info = sf.info(path)
    except Exception as e:  # soundfile raises several types for bad input
        raise AudioReadError(f"{type(e).__name__}: {e}") from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioReadError("empty or headerless audio")
    return AudioFile(path, int(info.frames), int(info.samplerate), int(info.channels), kind, split)


def to_mono(x: np.ndarray) -> np.ndarray:
    """[T] or [T, C] -> [T] by averaging channels."""
    return x if x.ndim == 1 else x.mean(axis=1)


def to_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """[T] or [T, C'] -> [T] (channels = 1: the mean of the channels, `to_mono`) or [T, channels]
    (C' = channels as is; a mono input duplicated into every channel). Raises AudioReadError for
    any other C'."""
    if channels == 1:
        return to_mono(x)
    if x.ndim == 1 or x.shape[1] == 1:
        return np.repeat(x.reshape(len(x), 1), channels, axis=1)
    if x.shape[1] != channels:
        raise AudioReadError(f"{x.shape[1]} channels, the model takes {channels} (or mono)")
    return x


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """High-quality resampling with soxr of [T] or [T, C] audio (identity when the rates match)."""
    if rate_in == rate_out:
        return x
    return soxr.resample(x, rate_in, rate_out).astype(np.float32)


def read_segment(file: AudioFile, start: int, frames: int, sample_rate: int,
                 channels: int = 1) -> np.ndarray:
    """`frames` source frames from `start`, as finite float32 at `sample_rate`: mono [T], or
    [T, channels] by `to_channels` when channels > 1."""
    try:
        x, _ = sf.read(file.path, start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioReadError(f"{file.path}: {type(e).__name__}: {e}") from None
    if x.size == 0:
        raise AudioReadError(f"{file.path}: no samples at offset {start}")
    if not np.isfinite(x).all():
        raise AudioReadError(f"{file.path}: non-finite samples")
    try:
        x = to_channels(x, channels)
    except AudioReadError as e:
        raise AudioReadError(f"{file.path}: {e}") from None
    return resample(x, file.sample_rate, sample_rate)


def read_audio(path: str, sample_rate: int, channels: int = 1) -> np.ndarray:
    """A whole file as float32 at `sample_rate`, mono [T] or [T, channels] (see read_segment)."""
    f = probe(path)
    return read_segment(f, 0, f.frames, sample_rate, channels)


def verify(file: AudioFile, block: int = 1 << 20) -> None:
    """Decodes the whole file; raises AudioReadError if it is truncated or holds non-finite samples."""
    try:
        seen = 0
        for x in sf.blocks(file.path, blocksize=block, dtype="float32", always_2d=True):
            if not np.isfinite(x).all():
                raise AudioReadError(f"non-finite samples near frame {seen}")
            seen += len(x)
    except AudioReadError:
        raise
    except Exception as e:
        raise AudioReadError(f"{type(e).__name__}: {e}") from None
    if seen < file.frames:
        raise AudioReadError(f"truncated: {seen} of {file.frames} frames decode")
