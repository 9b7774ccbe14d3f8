"""What native stream kernels cost in quality: a trained model's live calls (one frame per push)
through XLA, the native kernel with float32 weights and with bfloat16 weights, scored on held-out
clean speech.

Run (the shipped 24 kHz speech model on the asterisk corpus's held-out speakers; `sscodec data
prepare asterisk` writes data/asterisk):
  python experiments/benchmarks/native_quality.py
  python experiments/benchmarks/native_quality.py --model BUNDLE --data SPEC --clips 20 --kbps 3

Prints, per kernel: PESQ-WB and ViSQOL (speech mode) against the clean references, mean with a
95% interval over clips, and the share of codes equal to XLA's. The speed side is
experiments/benchmarks/inference.py --kernels.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

KERNELS = ("xla", "native", "native-bf16")


def live_call(codec, audio: np.ndarray, kbps: float, kernels: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes and audio of `audio` pushed one frame at a time, as a live call would."""
    encoder = codec.stream_encoder(kbps, kernels=kernels)
    decoder = codec.stream_decoder(kernels=kernels)
    m = codec.frame_size
    audio = np.pad(audio, (0, -len(audio) % m))
    codes = [encoder.push(audio[i: i + m]) for i in range(0, len(audio), m)]
    return np.concatenate(codes), np.concatenate([decoder.push(c) for c in codes])


def interval(values: list[float]) -> str:
    v = np.asarray([x for x in values if x is not None], float)
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return f"{v.mean():.3f} ± {half:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="speech_cpu_24khz", help="bundle folder or name")
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "asterisk", "eval"),
                        help="data spec of held-out speech (data_pipelines.specs)")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length")
    parser.add_argument("--kbps", type=float, default=6.0)
    args = parser.parse_args()

    from tqdm import tqdm

    from sscodec import Codec
    from sscodec.quality.eval_data import build_eval_set
    from sscodec.quality.metrics import Visqol, score

    codec = Codec.load(args.model)
    clips = build_eval_set(args.data, sample_rate=codec.sample_rate, clip_seconds=args.seconds,
                           per_category=args.clips, categories=["clean_speech"]).clips
    visqol = Visqol()
    scores = {k: {"pesq": [], "visqol_speech": []} for k in KERNELS}
    agree = {k: [] for k in KERNELS}
    for clip in tqdm(clips, desc="clips"):
        reference_codes = None
        for kernels in KERNELS:
            codes, audio = live_call(codec, clip.input, args.kbps, kernels)
            reference_codes = codes if reference_codes is None else reference_codes
            agree[kernels].append(float(np.mean(codes == reference_codes)))
            result = score(clip.reference, audio, codec.sample_rate, speech=True, visqol=visqol,
                           metrics=("pesq", "visqol_speech"))
            for name, value in result.items():
                scores[kernels][name].append(value)
    print(f"{args.model} at {args.kbps:g} kbps, {len(clips)} held-out clean speech clips of "
          f"{args.seconds:g} s ({args.data}); live calls, one frame per push")
    print(f"{'kernels':<14}{'PESQ-WB':>18}{'ViSQOL speech':>18}{'codes = XLA':>13}")
    for kernels in KERNELS:
        print(f"{kernels:<14}{interval(scores[kernels]['pesq']):>18}"
              f"{interval(scores[kernels]['visqol_speech']):>18}"
              f"{100 * np.mean(agree[kernels]):>12.2f}%")
    for kernels in KERNELS[1:]:  # paired differences: the same clips through both
        diff = [a - b for a, b in zip(scores[kernels]["pesq"], scores["xla"]["pesq"])
                if a is not None and b is not None]
        print(f"PESQ {kernels} - xla, paired: {interval(diff)}")


if __name__ == "__main__":
    main()
