"""Scaling benchmark: the sharded train step on 1, 2, 4 and 8 fake CPU devices and in a real
2-process x 2-device run, with a FLOP-based utilization estimate.

Run (one table; compare within one run: shared CPUs vary up to 2x between runs):
  python experiments/benchmarks/scaling.py
  python experiments/benchmarks/scaling.py --config soundstream_24khz --per_device_batch 1 --crop_frames 75
  python experiments/benchmarks/scaling.py --dtypes float32,bfloat16 --skip_multiprocess

Weak scaling: each device gets --per_device_batch examples, so the global batch grows with the
device count. On this machine all fake devices share the same 2 cores, so step time grows with
the device count and the figures measure partitioning and collective overhead, not speed-up.
Utilization = model FLOPs per step (XLA's cost analysis of the 1-device step, per example, times
the batch) / step time / the hardware's peak (--peak_gflops; the platform notes measured 35-60
GFLOP/s for this 2-core CPU; on a GPU or TPU pass its peak, e.g. 989000 for an H100's dense bf16).
"XLA xN" is XLA's FLOP count of the partitioned program over the model FLOPs: work repeated on
every device.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

if "--worker" not in sys.argv and "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sscodec.platforms import choose_platforms  # noqa: E402

choose_platforms()  # no TPU probing (and libtpu noise) where there is no TPU


def measure(config_name: str, devices: list, per_device_batch: int, crop_frames: int,
            dtype: str, steps: int) -> dict:
    from experiments.benchmarks.train_step import measure as measure_step
    row = measure_step(config_name, [f"data.batch_size={per_device_batch * len(devices)}",
                                     f"data.crop_frames={crop_frames}",
                                     f"train.compute_dtype={dtype}", "mesh.shape=(-1, 1)"],
                       steps, devices)
    return {**row, "dtype": dtype}


def report(row: dict, model_flops_per_example: float, peak_gflops: float) -> str:
    """Model FLOPs = the 1-device step's FLOPs per example x the batch; XLA's own count for the
    partitioned program also holds work that partitioning repeats on every device."""
    model = model_flops_per_example * row["batch_size"]
    util = model / row["step_s"] / (peak_gflops * 1e9)
    return (f"{row['processes']} proc x {row['devices'] // row['processes']} dev = "
            f"{row['devices']:>2} devices  {row['dtype']:<9} batch {row['batch']:<12} "
            f"compile {row['compile_s']:6.1f} s  step {row['step_s']:7.3f} s  "
            f"{row['audio_s_per_s']:7.2f} audio-s/s  model {model / 1e9:6.1f} GFLOP/step "
            f"(XLA x{row['flops_per_step'] / model:4.2f})  utilization {100 * util:5.1f}%")


def worker(args) -> None:
    """One process of the 2-process run (started by launch.local)."""
    from sscodec.train import runtime
    runtime.initialize()
    import jax
    row = measure(args.config, jax.devices(), args.per_device_batch, args.crop_frames,
                  args.dtypes.split(",")[0], args.steps)
    if jax.process_index() == 0:
        print("RESULT " + json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--per_device_batch", type=int, default=2)
    parser.add_argument("--crop_frames", type=int, default=40)
    parser.add_argument("--device_counts", default="1,2,4,8")
    parser.add_argument("--dtypes", default="float32")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after warm-up")
    parser.add_argument("--peak_gflops", type=float, default=50.0)
    parser.add_argument("--skip_multiprocess", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    import jax
    print(f"jax {jax.__version__}, {jax.devices()[0].platform} x {jax.device_count()}, "
          f"{os.cpu_count()} CPUs; config {args.config}, {args.per_device_batch} examples per device")
    per_example = {}
    for dtype in args.dtypes.split(","):
        one = measure(args.config, jax.devices()[:1], args.per_device_batch, args.crop_frames,
                      dtype, args.steps)
        per_example[dtype] = one["flops_per_step"] / one["batch_size"]
        for n in (int(c) for c in args.device_counts.split(",")):
            if n == 1 or n > jax.device_count():
                row = one if n == 1 else None
            else:
                row = measure(args.config, jax.devices()[:n], args.per_device_batch,
                              args.crop_frames, dtype, args.steps)
            if row is not None:
                print(report(row, per_example[dtype], args.peak_gflops), flush=True)
    if args.skip_multiprocess:
        return
    cmd = [sys.executable, "-m", "launch.local", "--num-processes", "2", "--devices-per-process",
           "2", "--", sys.executable, os.path.abspath(__file__), "--worker", "--config",
           args.config, "--per_device_batch", str(args.per_device_batch), "--crop_frames",
           str(args.crop_frames), "--dtypes", args.dtypes, "--steps", str(args.steps)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    rows = [json.loads(line.split("RESULT ", 1)[1]) for line in out.stdout.splitlines()
            if "RESULT " in line]
    if out.returncode or not rows:
        print("2-process run failed:\n" + out.stdout[-3000:] + out.stderr[-3000:])
        sys.exit(1)
    print(report(rows[0], per_example[rows[0]["dtype"]], args.peak_gflops))


if __name__ == "__main__":
    main()
