"""The versions of one clip that a listening page plays: the original, sscodec at each bitrate
(denoised and not, for FiLM models), Opus at a comparable and at ~4x the bitrate, and codec2.

Coding reuses `sscodec.evaluation.evaluate`'s system points, so the model goes through the real `.ssc`
bitstream and every achieved bitrate is the size of what was sent over the clip's duration.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from sscodec.quality import metrics
from sscodec.quality.eval_data import Clip
from sscodec.evaluation.evaluate import SystemPoint, baseline_points, model_bitrates, model_points

# What the page shows: ViSQOL speech and PESQ-WB on speech, ViSQOL audio on everything else.
SPEECH_SCORES = ("visqol_speech", "pesq")
AUDIO_SCORES = ("visqol_audio",)
DENOISE_SUFFIX = "+denoise"


@dataclasses.dataclass
class Version:
    """One way of hearing a clip: what it is, its audio and its scores against the reference."""

    label: str  # what the page shows, e.g. "sscodec 3 kbps", "Opus 6 kbps"
    system: str  # the system's name, as in eval.json rows ("Opus", "codec2", the model's name)
    kind: str  # "reference" (not scored), "input" (noisy input), "model", "baseline", "anchor"
    audio: np.ndarray
    kbps: float | None = None  # nominal / target bitrate
    kbps_actual: float | None = None  # achieved: bytes sent over the clip's duration
    scores: dict[str, float | None] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> str:
        """The name MUSHRA ratings are grouped by: the system and its nominal bitrate."""
        return f"{self.system} {self.kbps:g} kbps" if self.kbps is not None else self.label


def default_rates(codec, kbps: Sequence[float] | None) -> list[float]:
    """The model's bitrates on the page: those asked for, else its top rate, about half and
    about a quarter of it (snapped down to rates it has)."""
    if kbps is None:
        top = codec.bitrates[-1]
        kbps = [top / 4, top / 2, top]
    return sorted(model_bitrates(codec, kbps))


def default_opus_kbps(model_kbps: Sequence[float]) -> list[float]:
    """Opus at a rate comparable with the model's highest (Opus goes no lower than 6 kbps) and
    at 4x that."""
    comparable = max(6.0, math.ceil(max(model_kbps, default=6.0)))
    return [comparable, 4 * comparable]


def system_points(codec, name: str, kbps: Sequence[float], opus_kbps: Sequence[float],
                  denoise: bool = True, codec2: bool = True) -> list[SystemPoint]:
    """The coded systems of a page: the model at `kbps` (with `NAME+denoise` too when it has
    FiLM and `denoise`), then Opus at `opus_kbps` and codec2 at 3.2 kbps."""
    points = []
    if codec is not None:
        mode = "both" if denoise and codec.film != "none" else "off"
        points += model_points(codec, name, kbps, mode)
    points += baseline_points(["opus"] + (["codec2"] if codec2 else []), opus_kbps)
    return points


def wanted(point: SystemPoint, clip: Clip) -> bool:
    """Denoised model versions only where there is noise to remove (elsewhere they equal the
    plain ones: the model denoises noisy speech only)."""
    return not point.system.endswith(DENOISE_SUFFIX) or clip.category == "noisy_speech"


def point_label(point: SystemPoint, model_name: str) -> str:
    if point.system == model_name:
        return f"sscodec {point.kbps:g} kbps"
    if point.system == model_name + DENOISE_SUFFIX:
        return f"sscodec {point.kbps:g} kbps, denoised"
    return f"{point.system} {point.kbps:g} kbps"


def lowpass_anchor(x: np.ndarray, sample_rate: int, cutoff_hz: float = 3500.0) -> np.ndarray:
    """MUSHRA's low anchor (ITU-R BS.1534): the reference ([T] or [T, C]) low-passed at 3.5 kHz."""
    spectrum = np.fft.rfft(x, axis=0)
    spectrum[np.fft.rfftfreq(len(x), 1 / sample_rate) > cutoff_hz] = 0
    return np.fft.irfft(spectrum, len(x), axis=0).astype(np.float32)


def clip_versions(clip: Clip, points: Sequence[SystemPoint], sample_rate: int, model_name: str,
                  visqol: metrics.Visqol | None = None) -> list[Version]:
    """Every version of `clip`, coded and scored against its reference (the clean speech for
    noisy speech). The first versions are not coded: the original (the reference), and for noisy
    speech the noisy input the codecs got."""
    versions = [Version("Original" if clip.category != "noisy_speech" else "Clean reference",
                        "reference", "reference", clip.reference)]
    if clip.category == "noisy_speech":
        versions.append(Version("Noisy input", "noisy input", "input", clip.input))
    for point in points:
        if not wanted(point, clip):
            continue
        audio, achieved = point.code(clip, sample_rate)
        kind = "baseline" if point.system in ("Opus", "codec2") else "model"
        versions.append(Version(point_label(point, model_name), point.system, kind,
                                np.asarray(audio, np.float32)[: len(clip.input)],
                                round(point.kbps, 6), round(achieved, 4)))
    names = SPEECH_SCORES if clip.speech else AUDIO_SCORES
    # [T, C] clips: each metric per channel, mid and side, and its mean over the channels
    for version in versions:
        if version.kind != "reference":
            version.scores = metrics.score_any(clip.reference, version.audio, sample_rate,
                                               speech=clip.speech, visqol=visqol, metrics=names)
    return versions
