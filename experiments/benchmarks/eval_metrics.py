"""Evaluation cost: seconds that each quality metric and each baseline codec takes per 10 s of
audio, to size `sscodec eval` runs and sweeps.

Run:
  python experiments/benchmarks/eval_metrics.py
  python experiments/benchmarks/eval_metrics.py --seconds 20 --repeats 5

Audio: `--seconds` of the embedded speech at 24 kHz (files joined end to end); the metrics score
Opus 12 kbps output against it. Each row is the best of `--repeats` calls after one warm-up
call, scaled to 10 s of audio. ViSQOL's one-off cost, its first call in a fresh process (model
set-up and numba JIT included), is measured in subprocesses twice: with numba's on-disk cache as
it is (what every run after the first sees) and with an empty one (the first run after installing
visqol-python). Single process, no core pinning: on a shared machine, compare rows within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
os.environ.setdefault("JAX_PLATFORMS", "cpu")  # sscodec.nn.audio imports jax; keep it off TPUs

SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")
RATE = 24000


def _speech(seconds: float):
    """`seconds` of the embedded speech at 24 kHz, files joined end to end."""
    import numpy as np
    import soundfile as sf
    parts, total = [], 0
    for name in sorted(os.listdir(SPEECH)):
        x, rate = sf.read(os.path.join(SPEECH, name), dtype="float32")
        assert rate == RATE
        parts.append(x)
        total += len(x)
        if total >= seconds * RATE:
            break
    return np.concatenate(parts)[: int(seconds * RATE)]


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _jobs(reference, degraded, visqol) -> dict:
    """name -> zero-argument callable: every metric and every baseline on this audio."""
    from sscodec.evaluation import baselines
    from sscodec.quality import metrics
    jobs = {
        "visqol_audio": lambda: visqol.audio(reference, degraded, RATE),
        "visqol_speech": lambda: visqol.speech(reference, degraded, RATE),
        "pesq": lambda: metrics.pesq_wb(reference, degraded, RATE),
        "stoi": lambda: metrics.stoi(reference, degraded, RATE),
        "si_sdr": lambda: metrics.si_sdr(reference, degraded),
        "mel_distance": lambda: metrics.mel_distance(reference, degraded, RATE),
    }
    for kbps in baselines.OPUS_KBPS:
        jobs[f"opus {kbps} kbps"] = lambda k=kbps: baselines.opus(reference, RATE, k)
    jobs["codec2 3200"] = lambda: baselines.codec2(reference, RATE, 3200)
    return jobs


def first_call_worker(seconds: float) -> dict:
    """The first ViSQOL calls of a fresh process (import and model set-up included)."""
    t0 = time.perf_counter()
    from sscodec.quality import metrics
    visqol = metrics.Visqol()
    reference = _speech(seconds)
    import_s = time.perf_counter() - t0
    degraded = reference * 0.9
    return {"import_s": import_s,
            "visqol_audio": _time(lambda: visqol.audio(reference, degraded, RATE)),
            "visqol_speech": _time(lambda: visqol.speech(reference, degraded, RATE))}


def _first_calls(seconds: float, numba_cache_dir: str | None) -> dict:
    env = dict(os.environ)
    if numba_cache_dir:
        env["NUMBA_CACHE_DIR"] = numba_cache_dir
    result = subprocess.run([sys.executable, __file__, "--first-call-worker",
                             "--seconds", str(seconds)], env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr.strip()[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length")
    parser.add_argument("--repeats", type=int, default=3, help="best of N warm calls")
    parser.add_argument("--first-call-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_call_worker:
        print(json.dumps(first_call_worker(args.seconds)))
        return

    cached = _first_calls(args.seconds, None)
    with tempfile.TemporaryDirectory() as empty:
        cold = _first_calls(args.seconds, empty)

    from sscodec.evaluation import baselines

    from sscodec.quality import metrics
    reference = _speech(args.seconds)
    degraded = baselines.opus(reference, RATE, 12).audio
    jobs = _jobs(reference, degraded, metrics.Visqol())
    per10 = 10.0 / (len(reference) / RATE)
    rows = []
    for name, fn in jobs.items():
        fn()  # warm-up: imports, model set-up, JIT
        rows.append((name, min(_time(fn) for _ in range(args.repeats)) * per10))

    print(f"{len(reference) / RATE:g} s of embedded speech at 24 kHz, {os.cpu_count()} CPU cores; "
          f"metrics score Opus 12 kbps output; warm = best of {args.repeats} after a warm-up")
    print(f"{'':<16}{'s / 10 s audio':>15}{'x real time':>13}")
    for name, seconds in rows:
        print(f"{name:<16}{seconds:>15.3f}{10.0 / seconds:>12.0f}x")
    print(f"ViSQOL first call in a fresh process (after a {cached['import_s']:.1f} s import of "
          "sscodec.quality.metrics and the audio):")
    for label, r in (("numba cache warm", cached), ("numba cache empty", cold)):
        print(f"  {label:<18} audio {r['visqol_audio']:6.2f} s   "
              f"speech {r['visqol_speech']:6.2f} s")


if __name__ == "__main__":
    main()
