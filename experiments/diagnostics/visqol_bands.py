"""Where a model loses ViSQOL: per-band similarity against codec2, and magnitude-vs-phase swaps.

ViSQOL speech mode compares 21 gammatone bands (50 Hz - 6.8 kHz at 16 kHz) patch by patch and
feeds the per-band mean similarity (`fvnsim`) to its lattice quality mapper. This prints, on the
held-out clips `sscodec eval` uses (clean speech, first N clips), the MOS and each band's fvnsim
for the model at one bitrate, codec2 at 3.2 kbps and the reference low-passed at 4 kHz, then the
MOS of STFT swaps: the reference's magnitudes with the model's phases and the other way round,
and the reference with random phases (512-sample STFT, 75% overlap). A model whose
"ours_mag+ref_phase" row scores like "ours" loses ViSQOL in its magnitudes, not its phases.

Run (about 1 minute for 6 clips on 2 cores):
  python experiments/diagnostics/visqol_bands.py --model speech_cpu_24khz \\
      --data data/asterisk/eval --kbps 6 --clips 6
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.signal

from data_pipelines.transforms import fit_length
from sscodec.evaluation import baselines
from sscodec.codec import Codec
from sscodec.quality.eval_data import build_eval_set
from sscodec.quality.metrics import Visqol

STFT = dict(nperseg=512, noverlap=384)


def _swap(magnitude_of: np.ndarray, phase_of: np.ndarray, n: int) -> np.ndarray:
    """The STFT magnitudes of one signal with the phases of another (phase_of=None: random)."""
    mag = np.abs(scipy.signal.stft(magnitude_of, **STFT)[2])
    if phase_of is None:
        phase = np.random.default_rng(0).uniform(0, 2 * np.pi, mag.shape)
    else:
        phase = np.angle(scipy.signal.stft(phase_of, **STFT)[2])
    return scipy.signal.istft(mag * np.exp(1j * phase), **STFT)[1][:n].astype(np.float32)


def _lowpass(x: np.ndarray, hz: float, sample_rate: int) -> np.ndarray:
    sos = scipy.signal.butter(8, hz, fs=sample_rate, output="sos")
    return scipy.signal.sosfiltfilt(sos, x).astype(np.float32)


def band_report(model: str, data: str, kbps: float, clips: int) -> dict[str, dict]:
    """{signal: {"mos": mean MOS, "fvnsim": mean per-band similarity [21]}} over the clips."""
    codec = Codec.load(model)
    rate = codec.sample_rate
    eval_set = build_eval_set(data, sample_rate=rate, per_category=clips, categories=("clean_speech",))
    visqol = Visqol()
    rows: dict[str, list] = {}
    for clip in eval_set.clips:
        ref = clip.reference
        ours = fit_length(np.asarray(codec.decode(codec.encode(clip.input, rate, kbps=kbps))).reshape(-1),
                          len(ref))
        signals = {
            f"ours {kbps:g} kbps": ours,
            "codec2 3.2 kbps": fit_length(baselines.codec2(clip.input, rate).audio, len(ref)),
            "reference low-passed 4 kHz": _lowpass(ref, 4000.0, rate),
            "ref_mag+ours_phase": _swap(ref, ours, len(ref)),
            "ours_mag+ref_phase": _swap(ours, ref, len(ref)),
            "ref_mag+random_phase": _swap(ref, None, len(ref)),
        }
        for name, sig in signals.items():
            result = visqol.result("speech", ref, sig, rate)  # the per-band result, not just the MOS
            rows.setdefault(name, []).append((result.moslqo, np.asarray(result.fvnsim)))
    return {name: {"mos": float(np.mean([m for m, _ in r])),
                   "fvnsim": np.mean([f for _, f in r], axis=0)} for name, r in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="speech_cpu_24khz", help="bundle folder or installed name")
    parser.add_argument("--data", required=True, help="held-out speech spec, e.g. data/asterisk/eval")
    parser.add_argument("--kbps", type=float, default=6.0)
    parser.add_argument("--clips", type=int, default=6)
    args = parser.parse_args()
    from visqol.gammatone import calc_center_freqs
    centres = np.sort(calc_center_freqs(50.0, 8000.0, 21))
    report = band_report(args.model, args.data, args.kbps, args.clips)
    print("band centre Hz".ljust(32) + " ".join(f"{c:5.0f}" for c in centres))
    for name, r in report.items():
        print(f"{name:<26} {r['mos']:4.2f} " + " ".join(f"{v:5.2f}" for v in r["fvnsim"]))
    print("(second column: ViSQOL speech MOS; then fvnsim per band, low to high)")


if __name__ == "__main__":
    main()
