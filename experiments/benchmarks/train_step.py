"""Train-step benchmark: compile time, steady-state step time and audio-seconds per second.

Run (this prints one table; figures vary up to 2x between runs on shared CPUs, so compare
ratios within one run):
  python experiments/benchmarks/train_step.py
  python experiments/benchmarks/train_step.py --configs tiny --steps 20

The paper config is measured at a reduced batch by default (2 x 1 s instead of 16 x 4 s), which a
2-core CPU can run; per-audio-second figures are what to compare. The persistent compilation
cache is off here so compile times are real.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sscodec.runtime import choose_platforms  # noqa: E402

choose_platforms()  # no TPU probing (and libtpu noise) where there is no TPU

import jax  # noqa: E402
import numpy as np  # noqa: E402

from sscodec import parallel  # noqa: E402
from sscodec.config import load_config  # noqa: E402
from sscodec.train.state import build_models, create_state, crop_length  # noqa: E402
from sscodec.train.step import compile_train_step  # noqa: E402


def measure(name: str, overrides: list[str], steps: int, devices: list | None = None) -> dict:
    """Compiles and times the train step of experiments/NAME.py on `devices` (default: all).

    In a multi-process run every process calls this and feeds its share of the batch."""
    config = load_config(os.path.join(ROOT, "experiments", f"{name}.py"), overrides)
    mesh = parallel.make_mesh(config.mesh, devices)
    models = build_models(config)
    t0 = time.perf_counter()
    state = create_state(models, config, mesh)
    jax.block_until_ready(state)
    init_s = time.perf_counter() - t0
    b, length = config.data.batch_size, crop_length(config)
    local = b // jax.process_count()
    rng = np.random.default_rng(jax.process_index())
    audio = (0.1 * rng.standard_normal((local, length))).astype(np.float32)
    batch = parallel.global_batch({"input": audio, "target": audio,
                                   "denoise": np.zeros(local, np.int32)}, mesh)
    t0 = time.perf_counter()
    step = compile_train_step(config, models, state, batch)
    compile_s = time.perf_counter() - t0
    state, metrics = step(state, batch)  # first call: k-means init of the codebooks
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    audio_s = b * length / config.sample_rate
    cost = step.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float((cost or {}).get("flops", float("nan")))
    return {"config": name, "batch": f"{b} x {length / config.sample_rate:.2f} s",
            "batch_size": b, "devices": mesh.devices.size, "processes": jax.process_count(),
            "init_s": init_s, "compile_s": compile_s, "step_s": step_s,
            "audio_s_per_s": audio_s / step_s,
            "flops_per_step": flops * mesh.devices.size,  # cost analysis is per device
            "flops_per_audio_s": flops * mesh.devices.size / audio_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="tiny,soundstream_24khz")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after warm-up")
    parser.add_argument("--paper_batch", type=int, default=2)
    parser.add_argument("--paper_crop_frames", type=int, default=75, help="75 frames = 1 s")
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} x {jax.device_count()}, "
          f"{os.cpu_count()} CPUs")
    rows = []
    for name in args.configs.split(","):
        overrides = []
        if name.startswith("soundstream"):
            overrides = [f"data.batch_size={args.paper_batch}",
                         f"data.crop_frames={args.paper_crop_frames}"]
        rows.append(measure(name, overrides, args.steps))
        r = rows[-1]
        print(f"{r['config']:<20} batch {r['batch']:<12} init {r['init_s']:6.1f} s  compile "
              f"{r['compile_s']:6.1f} s  step {r['step_s']:7.3f} s  "
              f"{r['audio_s_per_s']:7.2f} audio-s/s", flush=True)


if __name__ == "__main__":
    main()
