"""Per-example transforms: random crop (or pad), silence avoidance, peak normalization, noise mixing.

`ExampleMaker` turns one (source, item) pair into a training example

  {"input": f32[L], "target": f32[L], "denoise": i32, "skipped": i32}

(input and target f32[L, C] for a C-channel model, `channels` > 1: mono items duplicated into
every channel; one gain for all channels, so a crop keeps its stereo image)

following the paper's rules for the FiLM denoising mode: a speech crop is mixed with a noise crop at
a random gain (-30..0 dB by default) with probability `noisy_prob`; the denoise flag is drawn with
probability `denoise_prob`; the target is the clean speech only when the input is noisy *and*
denoise = 1, otherwise it is the input itself (so clean audio is never degraded). `skipped` counts
the unreadable items met and replaced while making the example; the batch carries these counts out
of Grain's worker processes.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np

from data_pipelines.audio_io import AudioReadError
from data_pipelines.sources import Source

log = logging.getLogger(__name__)

NOT_NOISED = ("music", "noise")  # kinds that never get noise mixed in (unlabelled audio does)


def peak(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if x.size else 0.0


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def fit_length(x: np.ndarray, length: int, loop: bool = False) -> np.ndarray:
    """Trims or extends [T] or [T, C] audio to exactly `length` samples: extends by zeros at the
    end, or with `loop` by repeating the audio (background noise, which must not stop short)."""
    if len(x) >= length:
        return x[:length]
    if loop and len(x):
        return x[np.arange(length) % len(x)]
    return np.pad(x, [(0, length - len(x))] + [(0, 0)] * (x.ndim - 1))


def draw_crop(source: Source, index: int, length: int, sample_rate: int, rng: np.random.Generator,
              *, min_rms: float = 0.0, tries: int = 5, max_failures: int = 20, channels: int = 1,
              loop: bool = False) -> tuple[np.ndarray, int]:
    """A crop of exactly `length` samples from `source[index]` ([length], or [length, channels]
    when channels > 1), and how many unreadable items it met. An item shorter than `length` is
    zero-padded, or looped with `loop` (as the evaluation's noisy speech loops its noise).

    A crop quieter than `min_rms` is redrawn up to `tries` times (then the last one is kept). An
    unreadable item is counted and replaced by a random item of the same source; after
    `max_failures` in a row the source is considered unusable and AudioReadError is raised.
    """
    failures, attempts, crop = 0, 0, None
    while attempts < tries:
        try:
            crop = fit_length(source.crop(index, length, sample_rate, rng, channels), length, loop)
        except AudioReadError as e:
            failures += 1
            log.warning("skipping unreadable item: %s", e)
            if failures >= max_failures:
                raise AudioReadError(f"{failures} unreadable items in a row in {source.name}") from e
            index = int(rng.integers(len(source)))
            continue
        attempts += 1
        if rms(crop) >= min_rms:
            break
    return crop.astype(np.float32), failures


@dataclasses.dataclass
class ExampleMaker:
    """Grain `random_map` transform: (source id, item index) -> one training example."""

    sources: Sequence[Source]
    length: int
    sample_rate: int
    noise: Source | None = None
    min_rms: float = 1e-3
    peak_db_range: tuple[float, float] = (-12.0, -1.0)
    noisy_prob: float = 0.5
    denoise_prob: float = 0.5
    noise_gain_db: tuple[float, float] = (-30.0, 0.0)
    channels: int = 1  # model.channels: > 1 gives [L, channels] examples

    def __call__(self, element: tuple[int, int], rng: np.random.Generator) -> dict:
        source_id, index = (int(v) for v in element)
        source = self.sources[source_id]
        clean, skipped = draw_crop(source, index, self.length, self.sample_rate, rng,
                                   min_rms=self.min_rms, channels=self.channels)
        kind = source.kind(index)
        denoise, noisy = 0, False
        if self.noise is not None:
            denoise = int(rng.uniform() < self.denoise_prob)
            noisy = kind not in NOT_NOISED and rng.uniform() < self.noisy_prob
        mix = clean = _unit_peak(clean)
        if noisy:
            noise, noise_skipped = draw_crop(self.noise, int(rng.integers(len(self.noise))),
                                             self.length, self.sample_rate, rng,
                                             channels=self.channels, loop=True)
            skipped += noise_skipped
            gain = 10 ** (rng.uniform(*self.noise_gain_db) / 20)
            mix = clean + gain * _unit_peak(noise)
        # One scale for input and target keeps the target the exact clean part of the input.
        scale = 10 ** (rng.uniform(*self.peak_db_range) / 20) / max(peak(mix), 1e-8)
        inputs = (mix * scale).astype(np.float32)
        target = (clean * scale).astype(np.float32) if noisy and denoise else inputs
        return {"input": inputs, "target": target, "denoise": np.int32(denoise),
                "skipped": np.int32(skipped)}


def _unit_peak(x: np.ndarray) -> np.ndarray:
    p = peak(x)
    return x / p if p > 0 else x
