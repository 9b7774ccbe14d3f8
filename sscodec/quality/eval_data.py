"""The evaluation set: fixed clips of clean speech, noisy speech (with clean references) and music.

Like the paper's test set (clips of 2-4 s, a few dozen per category), built deterministically from a
data spec: the first `clip_seconds` of up to `per_category` items of each kind, chosen by a seeded
shuffle. Noisy speech mixes each chosen speech clip with a noise clip at an SNR drawn from
`snr_db`; its reference is the clean speech, scaled exactly as in the mixture. Every clip is
peak-normalized to `PEAK` so no codec clips. Unreadable items are skipped and listed.

For a multi-channel model (`channels` > 1) clips are [T, C] (mono files duplicated into every
channel, see data_pipelines.audio_io), mixed and normalized with one gain for all channels.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np

from data_pipelines.audio_io import AudioReadError
from data_pipelines.sources import open_source
from data_pipelines.transforms import fit_length

log = logging.getLogger(__name__)

CATEGORIES = ("clean_speech", "noisy_speech", "music", "audio")
SPEECH_CATEGORIES = ("clean_speech", "noisy_speech")
PEAK = 10 ** (-3 / 20)  # -3 dBFS
MIN_RMS = 1e-3  # quieter clips (silence) are skipped: most metrics are undefined on them


@dataclasses.dataclass
class Clip:
    """One evaluation item: what the codec gets (`input`) and what it is scored against."""

    name: str
    category: str
    input: np.ndarray  # [T], or [T, C] for a multi-channel eval set
    reference: np.ndarray
    snr_db: float | None = None

    @property
    def speech(self) -> bool:
        return self.category in SPEECH_CATEGORIES


@dataclasses.dataclass
class EvalSet:
    clips: list[Clip]
    sample_rate: int
    skipped: list[tuple[str, str]]  # (item, reason)

    def describe(self) -> list[dict]:
        return [{"name": c.name, "category": c.category, "seconds": len(c.input) / self.sample_rate,
                 "snr_db": c.snr_db} for c in self.clips]


def _peak_normalize(*signals: np.ndarray) -> list[np.ndarray]:
    """Scales all signals by the one factor that brings the first to PEAK."""
    scale = PEAK / max(float(np.max(np.abs(signals[0]))), 1e-8)
    return [(s * scale).astype(np.float32) for s in signals]


def _read_clips(source, indices, seconds: float, sample_rate: int, skipped: list,
                channels: int = 1) -> list:
    clips = []
    for i in indices:
        try:
            x = source.clip(int(i), seconds, sample_rate, channels).astype(np.float32)
        except AudioReadError as e:
            skipped.append((source.item_name(int(i)), str(e)))
            log.warning("skipping unreadable item: %s", e)
            continue
        if not np.isfinite(x).all():
            skipped.append((source.item_name(int(i)), "non-finite samples"))
            continue
        if len(x) < sample_rate // 2 or np.sqrt(np.mean(np.square(x))) < MIN_RMS:
            skipped.append((source.item_name(int(i)), "shorter than 0.5 s or silent"))
            continue
        clips.append((source.item_name(int(i)), x))
    return clips


def _mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    noise = fit_length(noise, len(speech), loop=True)  # loops a short noise clip
    gain = np.sqrt(np.mean(np.square(speech)) / max(np.mean(np.square(noise)), 1e-12))
    return speech + noise * gain * 10 ** (-snr_db / 20)


def build_eval_set(spec: str, *, noise: str = "", sample_rate: int = 24_000,
                   clip_seconds: float = 4.0, per_category: int = 50,
                   categories: Sequence[str] | None = None,
                   snr_db: tuple[float, float] = (0.0, 15.0), seed: int = 0,
                   data_dir: str = "", channels: int = 1) -> EvalSet:
    """Builds the evaluation set from a data spec (see data_pipelines.specs).

    Speech and music come from the spec's labelled kinds (unlabelled items form the "audio"
    category); noise for the noisy-speech category comes from `noise` (a spec) or else from the
    spec's own noise items. Categories default to all those with material; a requested category
    with none is left out with a warning. `channels` > 1 gives [T, channels] clips.
    """
    requested = categories is not None
    categories = tuple(categories) if requested else CATEGORIES
    unknown = sorted(set(categories) - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {', '.join(CATEGORIES)}")
    source = open_source(spec, data_dir=data_dir)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(source))
    by_kind: dict[str, list[int]] = {}
    for i in order:
        by_kind.setdefault(source.kind(int(i)) or "audio", []).append(int(i))
    skipped = list(source.skipped)
    clips: list[Clip] = []
    wanted = {"clean_speech": "speech", "music": "music", "audio": "audio"}
    speech = []
    if "clean_speech" in categories or "noisy_speech" in categories:
        speech = _read_clips(source, by_kind.get("speech", [])[:per_category], clip_seconds,
                             sample_rate, skipped, channels)
    for category in categories:
        if category == "noisy_speech":
            continue
        items = speech if category == "clean_speech" else _read_clips(
            source, by_kind.get(wanted[category], [])[:per_category], clip_seconds,
            sample_rate, skipped, channels)
        for name, x in items:
            (x,) = _peak_normalize(x)
            clips.append(Clip(name, category, x, x))
    if "noisy_speech" in categories:
        noise_source = open_source(noise, data_dir=data_dir) if noise else None
        noise_items = (range(len(noise_source)) if noise_source is not None
                       else by_kind.get("noise", []))
        noises = _read_clips(noise_source or source, noise_items, clip_seconds, sample_rate,
                             skipped, channels)
        if not noises and speech and requested:
            log.warning("no noise in %s (give one with --noise): no noisy-speech clips", spec)
        for k, (name, x) in enumerate(speech if noises else []):
            noise_name, n = noises[k % len(noises)]
            snr = float(rng.uniform(*snr_db))
            mix, clean = _peak_normalize(_mix(x, n, snr), x)
            clips.append(Clip(f"{name}+{noise_name}@{snr:.1f}dB", "noisy_speech", mix, clean,
                              round(snr, 2)))
    for category in categories if requested else ():
        if not any(c.category == category for c in clips) and category != "noisy_speech":
            log.warning("no %s items in %s", category, spec)
    if not clips:
        raise FileNotFoundError(f"no usable clips for {', '.join(categories)} in {spec!r}")
    return EvalSet(clips, sample_rate, skipped)
