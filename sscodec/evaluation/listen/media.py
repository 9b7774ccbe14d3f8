"""The files a listening page links to: 16-bit FLAC audio, log-mel spectrogram PNGs (one pixel per
frame and mel band, drawn with matplotlib) and the rate-quality plot at the top of the page."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import soundfile as sf

from sscodec.evaluation.eval_table import METRIC_LABELS

N_FFT = 1024
N_MELS = 80
DYNAMIC_RANGE_DB = 80.0
CMAP = "magma"
RATE_TICKS = (0.5, 1, 1.5, 3, 6, 12, 24, 48, 96)


def write_audio(path: str, audio: np.ndarray, sample_rate: int) -> str:
    """Float audio, [T] or [T, channels] -> 16-bit FLAC (what every browser plays, about half a
    WAV's size)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    sf.write(path, np.clip(np.asarray(audio, np.float32), -1.0, 1.0), sample_rate,
             format="FLAC", subtype="PCM_16")
    return path


def log_mel(audio: np.ndarray, sample_rate: int, n_fft: int = N_FFT, n_mels: int = N_MELS
            ) -> np.ndarray:
    """Log-mel power in dB, [n_mels, frames] (hop n_fft / 4, periodic Hann window), of [T]
    audio or of the mid (the channels' mean) of [T, C] audio."""
    from sscodec.nn.audio import mel_filterbank

    hop = n_fft // 4
    x = np.asarray(audio, np.float64)
    x = np.pad(x.mean(axis=1) if x.ndim == 2 else x, (n_fft // 2, n_fft // 2))
    count = max(1, 1 + (len(x) - n_fft) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = power @ mel_filterbank(sample_rate, n_fft, n_mels).astype(np.float64)
    return (10 * np.log10(mel + 1e-10)).T


def write_spectrogram(path: str, audio: np.ndarray, sample_rate: int, top_db: float) -> str:
    """A log-mel spectrogram PNG, low frequencies at the bottom, `top_db` (the clip's reference
    maximum, so the versions of one clip share one scale) down to top_db - 80 dB."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    plt.imsave(path, log_mel(audio, sample_rate), cmap=CMAP, origin="lower",
               vmin=top_db - DYNAMIC_RANGE_DB, vmax=top_db)
    return path


def plot_rate_quality(rows: Sequence[dict], path: str) -> bool:
    """ViSQOL (speech mode on speech, audio mode on music) against achieved kbps, one panel per
    category, means over the page's clips; False when nothing has a score."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from sscodec.evaluation.eval_table import CATEGORY_ORDER

    panels = []
    for category in sorted({r["category"] for r in rows}, key=CATEGORY_ORDER.index):
        metric = "visqol_speech" if category.endswith("speech") else "visqol_audio"
        mine = [r for r in rows if r["category"] == category and r.get(metric) is not None
                and r.get("kbps_actual") is not None]
        if mine:
            panels.append((category, metric, mine))
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 2.8), squeeze=False)
    for ax, (category, metric, mine) in zip(axes[0], panels):
        for system in dict.fromkeys(r["system"] for r in mine):
            by_rate: dict[float, list[dict]] = {}
            for r in mine:
                if r["system"] == system:
                    by_rate.setdefault(r["kbps"], []).append(r)
            points = sorted((np.mean([r["kbps_actual"] for r in group]),
                             np.mean([r[metric] for r in group])) for group in by_rate.values())
            x, y = zip(*points)
            style = {"linestyle": "--"} if system in ("Opus", "codec2") else {}
            ax.plot(x, y, marker="o", markersize=4, label=system, **style)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(RATE_TICKS))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_title(category.replace("_", " "), fontsize=9)
        ax.set_xlabel("kbps (achieved)", fontsize=8)
        ax.set_ylabel(METRIC_LABELS[metric], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="both")
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
