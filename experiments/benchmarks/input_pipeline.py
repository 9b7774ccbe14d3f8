"""Input-pipeline benchmark: audio-seconds per second one host's Grain pipeline delivers, with 0, 1
and 2 worker processes, beside what the paper-config train step consumes.

Run (prints one table; compare ratios within one run, shared CPUs vary up to 2x between runs):
  python experiments/benchmarks/input_pipeline.py
  python experiments/benchmarks/input_pipeline.py --workers 0,1,2,4 --noise --resample
  python experiments/benchmarks/input_pipeline.py --skip-step   # pipeline only, no compile

The pipeline runs the paper config's data settings (global batch 16 x 4 s crops by default) on the
embedded corpus: decode FLAC, crop, normalize and, with --noise, mix noisy pairs; --resample stores
the corpus at 16 kHz first (as MagnaTagATune is) so each crop also goes through soxr.

What a chip consumes: the paper train step is compiled once (batch 2 x 1 s, as in
train_step.py) and timed on this CPU; its XLA flop count per audio-second, divided by an assumed
sustained accelerator throughput (--chip-tflops, default 100 TFLOP/s: about 40-50% of a TPU v4 /
v5e or a third of an H100's dense bf16 peak), estimates what one chip eats. The last line says how
many workers a host with --chips chips would need.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sscodec.platforms import choose_platforms  # noqa: E402

choose_platforms()  # no TPU probing (and libtpu noise) where there is no TPU

import grain  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from data_pipelines import pipeline  # noqa: E402
from data_pipelines.audio_io import EMBEDDED_DIR, read_audio  # noqa: E402
from data_pipelines.manifest import scan_folder  # noqa: E402
from sscodec.config import load_config  # noqa: E402
from sscodec.train.state import crop_length  # noqa: E402

PAPER = os.path.join(ROOT, "experiments", "soundstream_24khz.py")


def corpus_at(rate: int, folder: str) -> str:
    """A copy of the embedded corpus at `rate` (FLAC), kind folders kept."""
    files, _ = scan_folder(EMBEDDED_DIR)
    for f in files:
        out = os.path.join(folder, os.path.relpath(f.path, EMBEDDED_DIR))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        sf.write(out, read_audio(f.path, rate), rate)
    return folder


def pipeline_rate(config, workers: int, steps: int) -> float:
    """Audio-seconds per second delivered by one host (process 0 of 1), after the first batch."""
    data = pipeline.make_training_data(config, num_steps=steps + 1,
                                       shard=grain.sharding.ShardOptions(0, 1))
    batches = pipeline.make_iterator(data.dataset, worker_count=workers,
                                     buffer_size=config.data.worker_buffer_size)
    try:
        next(batches)  # worker start-up and first decode
        t0 = time.perf_counter()
        for _ in range(steps):
            batch = next(batches)
            np.asarray(batch["input"]).sum()  # touch the data as the trainer would
        elapsed = time.perf_counter() - t0
    finally:
        pipeline.close_iterator(batches)
    return steps * config.data.batch_size * crop_length(config) / config.sample_rate / elapsed


def step_consumption(steps: int) -> tuple[float, float]:
    """(audio-s/s of the paper step on this CPU, XLA flops per audio-second of training)."""
    from experiments.benchmarks.train_step import measure
    row = measure("soundstream_24khz", ["data.batch_size=2", "data.crop_frames=75"], steps)
    return row["audio_s_per_s"], row["flops_per_audio_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="0,1,2", help="worker counts to measure")
    parser.add_argument("--steps", type=int, default=40, help="timed batches per measurement")
    parser.add_argument("--noise", action="store_true", help="mix noisy pairs (denoising mode)")
    parser.add_argument("--resample", action="store_true", help="store the corpus at 16 kHz")
    parser.add_argument("--skip-step", action="store_true", help="do not compile the train step")
    parser.add_argument("--chip-tflops", type=float, default=100.0,
                        help="assumed sustained TFLOP/s of one accelerator chip")
    parser.add_argument("--chips", type=int, default=8, help="accelerator chips per host")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        overrides = ["data.noise=embedded"] if args.noise else []
        if args.resample:
            overrides.append(f"data.train={corpus_at(16000, os.path.join(tmp, 'c16k'))}")
        config = load_config(PAPER, overrides)
        print(f"{os.cpu_count()} CPUs; paper data settings: batch {config.data.batch_size} x "
              f"{crop_length(config) / config.sample_rate:g} s crops, noise "
              f"{'on' if args.noise else 'off'}, corpus at {16000 if args.resample else 24000} Hz")
        rates = {}
        for workers in (int(w) for w in args.workers.split(",")):
            rates[workers] = pipeline_rate(config, workers, args.steps)
            print(f"pipeline, {workers} worker(s): {rates[workers]:8.1f} audio-s/s per host",
                  flush=True)

    if args.skip_step:
        return
    cpu_rate, flops = step_consumption(3)
    chip_rate = args.chip_tflops * 1e12 / flops
    per_worker = max(rates.get(1, 0.0), 1e-9)
    print(f"paper train step on this CPU: {cpu_rate:8.2f} audio-s/s "
          f"(pipeline with 0 workers delivers {rates.get(0, float('nan')) / cpu_rate:,.0f}x that)")
    print(f"train step cost: {flops / 1e12:.2f} TFLOP per audio-second; at "
          f"{args.chip_tflops:g} TFLOP/s a chip consumes ~{chip_rate:.1f} audio-s/s")
    need = args.chips * chip_rate
    print(f"{args.chips} chips per host consume ~{need:.0f} audio-s/s; one worker delivers "
          f"{per_worker:.0f}: a host needs >= {math.ceil(need / per_worker)} worker(s)")


if __name__ == "__main__":
    main()
