"""What a sweep costs on accelerators: XLA's FLOPs per train step of every point, times its steps,
over a chip's peak.

`point_cost(config)` lowers the point's train step for one device (shapes only: nothing is
allocated or compiled, so the paper's configs are costed on a laptop in seconds) and reads XLA's
cost analysis of it. The step is one program whose adversarial half sits in a `lax.cond`, and the
analysis counts that half, so a step of a generator-only warm-up is costed as a full step: an upper
bound where a config has a warm-up (the paper's configs have none). Accelerator-hours = total FLOPs / (peak bf16 FLOP/s x utilization): at 100% of peak a
lower bound, and at `ASSUMED_MFU` the figure to plan with (a convolutional codec of these widths
is far from a transformer's utilization; the measured step time on a GPU is the check, see
`sscodec.evaluation.sweep_cost.step_time_estimate`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

ASSUMED_MFU = 0.25


@dataclasses.dataclass(frozen=True)
class Accelerator:
    name: str
    peak_bf16_flops: float  # dense, FLOP/s
    source: str


# Published dense bf16 peaks (vendors' data sheets, read 2026-11-30).
ACCELERATORS = (
    Accelerator("H100 SXM", 989e12, "NVIDIA H100 data sheet: 989 TFLOP/s bf16 dense"),
    Accelerator("A100", 312e12, "NVIDIA A100 data sheet: 312 TFLOP/s bf16 dense"),
    Accelerator("TPU v5e", 197e12, "cloud.google.com/tpu/docs/v5e: 197 TFLOP/s bf16"),
)


def step_flops(config: ConfigDict) -> float:
    """XLA's FLOPs of one train step of `config` on one device (the global batch), from the
    lowered program (generator and discriminator updates)."""
    from sscodec.train import parallel
    from sscodec.train.state import abstract_state, build_models, crop_length, shardings_for
    from sscodec.train.step import lower_train_step

    config = config.copy_and_resolve_references()
    if config.discriminator.grouped_conv == "auto":
        config.discriminator.grouped_conv = "lax"
    mesh = parallel.make_mesh(config.mesh, jax.devices()[:1])
    models = build_models(config)
    shardings = shardings_for(models, config, mesh)
    state = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                         abstract_state(models, config), shardings)
    b, length = config.data.batch_size, crop_length(config)
    sharding = parallel.batch_sharding(mesh, tuple(config.mesh.rules))
    batch = {"input": jax.ShapeDtypeStruct((b, length), jnp.float32, sharding=sharding),
             "target": jax.ShapeDtypeStruct((b, length), jnp.float32, sharding=sharding),
             "denoise": jax.ShapeDtypeStruct((b,), jnp.int32, sharding=sharding)}
    cost = lower_train_step(config, models, state, batch).cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else (cost or {})
    return float(cost.get("flops", float("nan")))


def point_cost(config: ConfigDict) -> dict[str, Any]:
    """FLOPs per step, steps, audio per step and the total FLOPs of the run."""
    flops = step_flops(config)
    audio_s = config.data.batch_size * config.data.crop_frames * _hop(config) / config.sample_rate
    return {"steps": int(config.num_steps), "step_flops": flops, "audio_s_per_step": audio_s,
            "total_flops": flops * int(config.num_steps)}


def _figure(value: float) -> str:
    """1,234 / 56.7 / 0.0123: three significant figures, thousands separated."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _hop(config: ConfigDict) -> int:
    hop = 1
    for s in config.model.strides:
        hop *= s
    return hop


def accelerator_hours(total_flops: float, chip: Accelerator, mfu: float = ASSUMED_MFU) -> float:
    return total_flops / (chip.peak_bf16_flops * mfu) / 3600


def step_time_estimate(step_flops_: float, chip: Accelerator, mfu: float = ASSUMED_MFU) -> float:
    """The seconds a step should take on `chip` at utilization `mfu` (compare with a measured
    step time to find the utilization actually reached)."""
    return step_flops_ / (chip.peak_bf16_flops * mfu)


def sweep_cost(sweep) -> list[dict[str, Any]]:
    """`point_cost` of every point of a loaded sweep (sscodec.evaluation.sweeps.load_sweep)."""
    from sscodec.evaluation.sweeps import point_config

    rows = []
    for point in sweep.points:
        config, _ = point_config(point)
        rows.append({"point": point.name, "batch": config.data.batch_size,
                     "crop_s": config.data.crop_frames * _hop(config) / config.sample_rate,
                     **point_cost(config)})
    return rows


def cost_markdown(title: str, rows: list[dict[str, Any]], mfu: float = ASSUMED_MFU) -> str:
    """One table: each point's FLOPs per step and steps, and its accelerator-hours per chip
    (at `mfu` of the peak; the sweep total last)."""
    head = ["point", "batch x crop", "steps", "GFLOP/step",
            "total PFLOP"] + [f"{c.name} h" for c in ACCELERATORS]
    lines = [f"**{title}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    total = 0.0
    for r in rows:
        total += r["total_flops"]
        lines.append(
            f"| {r['point']} | {r['batch']} x {r['crop_s']:.2f} s | {r['steps']:,} | "
            f"{r['step_flops'] / 1e9:,.0f} | {_figure(r['total_flops'] / 1e15)} | "
            + " | ".join(_figure(accelerator_hours(r["total_flops"], c, mfu))
                         for c in ACCELERATORS) + " |")
    lines.append(f"| **sweep** | | | | {_figure(total / 1e15)} | "
                 + " | ".join(f"**{_figure(accelerator_hours(total, c, mfu))}**"
                              for c in ACCELERATORS) + " |")
    return "\n".join(lines)
