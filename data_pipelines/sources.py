"""Data specs (see data_pipelines.specs) -> random-access audio sources.

A source is a sequence of items that can each cut a random crop (`crop`) or their start (`clip`) as
float32 at the model rate: mono [T], or [T, channels] for a multi-channel model (audio_io.to_channels:
mono items are duplicated into every channel). Files that cannot be read raise `AudioReadError`; the pipeline
counts them and draws another item.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Sequence

import numpy as np

from data_pipelines.audio_io import AudioFile, AudioReadError, read_segment, resample, to_channels
from data_pipelines.manifest import KINDS, read_manifest, scan_folder
from data_pipelines.specs import Spec, parse_spec

def crop_window(frames: int, rate: int, length: int, sample_rate: int,
                rng: np.random.Generator) -> tuple[int, int]:
    """(start, count) in source frames covering `length` output samples (a little extra for the
    resampler), at a random start; short items give all they have and the crop is padded later."""
    need = math.ceil(length * rate / sample_rate) + 16
    return int(rng.integers(0, max(frames - need, 0) + 1)), need


class FileSource:
    """Audio files from a folder scan or a manifest; `skipped` lists the unreadable ones."""

    def __init__(self, name: str, files: Sequence[AudioFile], skipped: Sequence[tuple[str, str]] = (),
                 kind: str = ""):
        self.name = name
        self.files = list(files)
        self.skipped = list(skipped)
        self.default_kind = kind

    def __len__(self) -> int:
        return len(self.files)

    def kind(self, index: int) -> str:
        return self.default_kind or self.files[index].kind

    def item_name(self, index: int) -> str:
        return os.path.splitext(os.path.basename(self.files[index].path))[0]

    def crop(self, index: int, length: int, sample_rate: int, rng: np.random.Generator,
             channels: int = 1) -> np.ndarray:
        f = self.files[index]
        start, count = crop_window(f.frames, f.sample_rate, length, sample_rate, rng)
        return read_segment(f, start, count, sample_rate, channels)[:length]

    def clip(self, index: int, seconds: float, sample_rate: int, channels: int = 1) -> np.ndarray:
        f = self.files[index]
        return read_segment(f, 0, int(min(seconds, f.duration) * f.sample_rate), sample_rate,
                            channels)

    def select(self, kinds: Sequence[str]) -> "FileSource":
        """Keeps files whose kind is in `kinds` (unlabelled files are always kept)."""
        if not kinds:
            return self
        keep = [f for i, f in enumerate(self.files) if self.kind(i) in kinds or not self.kind(i)]
        return FileSource(self.name, keep, self.skipped, self.default_kind)


class TfdsSource:
    """A prepared TFDS split read with `tfds.data_source` (array_record; no TensorFlow needed).

    Records hold `audio` (int16 [T] or [T, C]) and `sample_rate`; our builders also give the kind.
    """

    def __init__(self, spec: Spec, data_dir: str = "", kind: str = ""):
        import tensorflow_datasets as tfds
        from data_pipelines import tfds_builders  # registers our builders with TFDS

        self.name = str(spec)
        self.data_name = spec.name.replace("/", "_")
        self.default_kind = kind or tfds_builders.kind_of(spec.name)
        self.skipped: list[tuple[str, str]] = []
        try:
            self.data = tfds.data_source(spec.name, split=spec.split, data_dir=data_dir or None)
        except Exception as e:  # TFDS raises many types for "not prepared" / "no such split"
            raise FileNotFoundError(
                f"cannot open {self.name} ({type(e).__name__}: {e}). Prepare it first with "
                f"`sscodec data prepare {spec.name}` (see data_pipelines/tfds_builders)") from None

    def __len__(self) -> int:
        return len(self.data)

    def kind(self, index: int) -> str:
        return self.default_kind

    def item_name(self, index: int) -> str:
        return f"{self.data_name}_{index}"

    def _audio(self, index: int) -> tuple[np.ndarray, int]:
        record = self.data[index]
        audio = np.asarray(record["audio"])
        if audio.size == 0:
            raise AudioReadError(f"{self.name}[{index}]: empty audio")
        return audio.reshape(len(audio), -1), int(record["sample_rate"])

    def _float(self, audio: np.ndarray, rate: int, sample_rate: int,
               channels: int = 1) -> np.ndarray:
        if channels == 1:
            return resample(audio.mean(axis=1, dtype=np.float32) / 32768.0, rate, sample_rate)
        try:
            x = to_channels(audio.astype(np.float32) / 32768.0, channels)
        except AudioReadError as e:
            raise AudioReadError(f"{self.name}: {e}") from None
        return resample(x, rate, sample_rate)

    def crop(self, index: int, length: int, sample_rate: int, rng: np.random.Generator,
             channels: int = 1) -> np.ndarray:
        audio, rate = self._audio(index)
        start, count = crop_window(len(audio), rate, length, sample_rate, rng)
        return self._float(audio[start:start + count], rate, sample_rate, channels)[:length]

    def clip(self, index: int, seconds: float, sample_rate: int, channels: int = 1) -> np.ndarray:
        audio, rate = self._audio(index)
        return self._float(audio[: int(seconds * rate)], rate, sample_rate, channels)

    def select(self, kinds: Sequence[str]) -> "TfdsSource":
        return self  # one kind per TFDS dataset; mixtures choose datasets instead


Source = FileSource | TfdsSource


def open_source(spec: str, *, kinds: Sequence[str] = (), kind: str = "", data_dir: str = "",
                deep_scan: bool = False) -> Source:
    """Opens a spec as a random-access source, keeping items of `kinds` (plus unlabelled ones).

    `kind` labels every item of the source (e.g. a noise folder without a noise/ sub-folder).
    """
    if kind and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    parsed = parse_spec(spec)
    if parsed.form == "tfds":
        source: Source = TfdsSource(parsed, data_dir, kind)
    elif parsed.form == "manifest":
        files, skipped = read_manifest(parsed.path)
        source = FileSource(spec, files, skipped, kind)
    else:
        files, skipped = scan_folder(parsed.path, deep=deep_scan)
        source = FileSource(spec, files, skipped, kind)
    source = source.select(kinds)
    if len(source) == 0:
        raise FileNotFoundError(f"no readable audio in {spec!r}"
                                + (f" of kinds {list(kinds)}" if kinds else ""))
    return source
