"""A minimal Grain training pipeline: folder -> decode -> mono -> resample -> random crop -> batch.

Each element is {"input": f32[L], "target": f32[L], "denoise": i32} (target = input, denoise = 0
here: noisy/clean pairs come with the full pipeline). The dataset is a random-access Grain
MapDataset, so the batch for step s is simply `dataset[s]`: a resumed run starts at its step and
sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections import Counter
from typing import Sequence

import grain
import numpy as np

from data_pipelines.audio_io import AudioFile, AudioReadError, read_segment, resolve_folder, scan_folder

log = logging.getLogger(__name__)


class SkipCounter:
    """Counts skipped inputs by reason (per process; worker processes log their own)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: Counter = Counter()

    def add(self, reason: str) -> None:
        with self._lock:
            self.counts[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


SKIPPED = SkipCounter()


@dataclasses.dataclass
class RandomCrop:
    """Draws a random crop of `length` samples at `sample_rate`, avoiding near-silent crops.

    A file that fails to decode is counted and replaced by another randomly drawn file.
    """

    files: Sequence[AudioFile]
    length: int
    sample_rate: int
    min_rms: float = 1e-3
    tries: int = 5
    peak_db_range: tuple[float, float] = (-12.0, -1.0)

    def _crop(self, file: AudioFile, rng: np.random.Generator) -> np.ndarray:
        need = math.ceil(self.length * file.sample_rate / self.sample_rate) + 16
        start = int(rng.integers(0, max(file.frames - need, 0) + 1))
        x = read_segment(file, start, need, self.sample_rate)[: self.length]
        return np.pad(x, (0, self.length - len(x)))

    def __call__(self, file: AudioFile, rng: np.random.Generator) -> dict:
        crop = None
        for attempt in range(self.tries * 2):
            try:
                crop = self._crop(file, rng)
            except AudioReadError as e:
                SKIPPED.add("unreadable")
                log.warning("skipping %s", e)
                file = self.files[int(rng.integers(len(self.files)))]
                continue
            if np.sqrt(np.mean(crop ** 2)) >= self.min_rms or attempt >= self.tries:
                break
        if crop is None:
            raise AudioReadError(f"no readable audio after {self.tries * 2} tries")
        peak = float(np.max(np.abs(crop)))
        if peak > 0:
            crop = crop * (10 ** (rng.uniform(*self.peak_db_range) / 20) / peak)
        crop = crop.astype(np.float32)
        return {"input": crop, "target": crop, "denoise": np.int32(0)}


def list_training_files(spec: str, kinds: Sequence[str] = ()) -> list[AudioFile]:
    """Scans the spec's folder once; raises if nothing readable is there."""
    files, skipped = scan_folder(resolve_folder(spec), kinds)
    for _ in skipped:
        SKIPPED.add("unreadable")
    if skipped:
        log.warning("skipped %d unreadable file(s) in %s", len(skipped), spec)
    if not files:
        raise FileNotFoundError(f"no readable audio files in {spec!r} (kinds={list(kinds)})")
    return files


def make_dataset(files: Sequence[AudioFile], *, sample_rate: int, crop_length: int,
                 batch_size: int, num_batches: int, seed: int, min_rms: float = 1e-3
                 ) -> grain.MapDataset:
    """A random-access dataset of `num_batches` batches; element s is the batch for step s."""
    epochs = math.ceil(num_batches * batch_size / len(files)) + 1
    ds = grain.MapDataset.source(list(files)).seed(seed).shuffle().repeat(epochs)
    ds = ds.random_map(RandomCrop(list(files), crop_length, sample_rate, min_rms))
    return ds.batch(batch_size, drop_remainder=True)[:num_batches]


def iterate(dataset: grain.MapDataset, start: int = 0, worker_count: int = 0):
    """An iterator over dataset[start:], prefetched by `worker_count` processes when > 0."""
    ds = dataset[start:].to_iter_dataset()
    if worker_count > 0:
        from absl import flags  # grain workers read absl flags (see platform notes)
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
    return iter(ds)
