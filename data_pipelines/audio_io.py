"""Audio file discovery and decoding: scan a folder, read a segment, mono, resample.

Unreadable files never crash a run: `scan_folder` skips them with a warning and reports each one
with its reason; `read_segment` raises `AudioReadError`, which the pipeline counts and works around.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Iterable

import numpy as np
import soundfile as sf
import soxr

log = logging.getLogger(__name__)

EMBEDDED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "embedded")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".opus")


class AudioReadError(RuntimeError):
    """A file could not be decoded into finite audio samples."""


@dataclasses.dataclass(frozen=True)
class AudioFile:
    path: str
    frames: int
    sample_rate: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def resolve_folder(spec: str) -> str:
    """A data spec naming a folder; `embedded` is the corpus shipped in data_pipelines/embedded."""
    folder = EMBEDDED_DIR if spec == "embedded" else os.path.expanduser(spec)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"data folder not found: {spec!r} ({folder})")
    return folder


def probe(path: str) -> AudioFile:
    """Reads the header; raises AudioReadError for unreadable or empty files."""
    try:
        info = sf.info(path)
    except Exception as e:  # soundfile raises several types for bad input
        raise AudioReadError(f"{type(e).__name__}: {e}") from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioReadError("empty or headerless audio")
    return AudioFile(path, int(info.frames), int(info.samplerate), int(info.channels))


def scan_folder(root: str, kinds: Iterable[str] = ()) -> tuple[list[AudioFile], list[tuple[str, str]]]:
    """All audio files under root (or under root/KIND for each kind), sorted by path.

    Returns (files, skipped) where skipped lists (path, reason) for each unreadable file.
    """
    roots = [os.path.join(root, k) for k in kinds] if kinds else [root]
    paths = []
    for r in roots:
        if not os.path.isdir(r):
            raise FileNotFoundError(f"data folder not found: {r}")
        for dirpath, _, names in os.walk(r, followlinks=True):
            paths += [os.path.join(dirpath, n) for n in names if n.lower().endswith(AUDIO_EXTENSIONS)]
    files, skipped = [], []
    for path in sorted(paths):
        try:
            files.append(probe(path))
        except AudioReadError as e:
            skipped.append((path, str(e)))
            log.warning("skipping unreadable audio %s: %s", path, e)
    return files, skipped


def to_mono(x: np.ndarray) -> np.ndarray:
    """[T] or [T, C] -> [T] by averaging channels."""
    return x if x.ndim == 1 else x.mean(axis=1)


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """High-quality resampling with soxr (identity when the rates match)."""
    if rate_in == rate_out:
        return x
    return soxr.resample(x, rate_in, rate_out).astype(np.float32)


def read_segment(file: AudioFile, start: int, frames: int, sample_rate: int) -> np.ndarray:
    """`frames` source frames from `start`, as finite float32 mono at `sample_rate`."""
    try:
        x, _ = sf.read(file.path, start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioReadError(f"{file.path}: {type(e).__name__}: {e}") from None
    if x.size == 0:
        raise AudioReadError(f"{file.path}: no samples at offset {start}")
    if not np.isfinite(x).all():
        raise AudioReadError(f"{file.path}: non-finite samples")
    return resample(to_mono(x), file.sample_rate, sample_rate)


def read_audio(path: str, sample_rate: int) -> np.ndarray:
    """A whole file as float32 mono at `sample_rate`."""
    f = probe(path)
    return read_segment(f, 0, f.frames, sample_rate)
