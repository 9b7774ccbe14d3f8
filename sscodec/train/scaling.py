"""Weak-scaling estimates for TPU slices from programs compiled ahead of time (no TPU needed).

`scaling_point(config, topology, num_slices)` compiles the train step for the topology through
libtpu (sscodec.train.aot), reads per-chip FLOPs and HBM from XLA and every collective from the
compiled HLO (sscodec.train.hlo_collectives), and estimates the step time from the chip's published
peak and bandwidths (`CHIPS`, with sources):

  compute = per-chip FLOPs / peak bf16 FLOP/s   (100% of peak: the optimistic compute time, so
                                                 the communication share is an upper bound)
  ICI     = sum over collectives of ring time at the per-chip all-reduce bandwidth
  DCN     = for a collective whose groups span slices: the cross-slice part of a hierarchical
            reduction (reduce-scatter in the slice, ring across slices over DCN on 1/chips of
            the bytes, all-gather in the slice) at the per-chip DCN bandwidth
  step    = compute + ICI + DCN                 (no overlap assumed: conservative)

Weak-scaling efficiency of N chips = step(8 chips) / step(N chips) at the same batch per chip.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ml_collections import ConfigDict

from sscodec.train import hlo_collectives


@dataclasses.dataclass(frozen=True)
class Chip:
    peak_bf16_flops: float  # FLOP/s (HBM per chip: sscodec.train.aot.HBM_GIB, which the fit check uses)
    ici_allreduce_bytes_per_s: float  # per chip
    dcn_bytes_per_s: float  # per chip, across slices
    source: str


# Published figures (Google Cloud TPU documentation, "TPU v5e" and "TPU v5p" system
# architecture pages, read 2026-11-29). Per-chip all-reduce bandwidth = the pod's published
# all-reduce bandwidth / its chips; per-chip DCN = the pod's data-center network bandwidth / its
# chips (v5e: 2 x 100 Gbps NICs per 8-chip host gives the same 25 Gbps per chip).
CHIPS = {
    "v5e": Chip(peak_bf16_flops=197e12, ici_allreduce_bytes_per_s=51.2e12 / 256,
                dcn_bytes_per_s=6.4e12 / 8 / 256,
                source="cloud.google.com/tpu/docs/v5e: 197 TFLOP/s bf16, 16 GB HBM at 819 GB/s, "
                       "ICI 400 GB/s bidirectional per chip, pod (256 chips) all-reduce "
                       "bandwidth 51.2 TB/s, data-center network 6.4 Tbps per pod"),
}


def estimate(report: dict[str, Any], found: list[hlo_collectives.Collective],
             chip: Chip) -> dict[str, Any]:
    """Step-time estimate for one compiled point (aot.compile_for_topology's report and its
    collectives)."""
    chips, slices = report["chips"], report["num_slices"]
    per_slice = chips // slices
    ici = dcn = 0.0
    for c in found:
        spans_slices = slices > 1 and c.group > per_slice
        in_slice = dataclasses.replace(c, group=min(c.group, per_slice))
        ici += c.count * hlo_collectives.ring_seconds(in_slice, chip.ici_allreduce_bytes_per_s)
        if spans_slices:
            across = c.group // per_slice  # slices in the group
            shard = dataclasses.replace(c, bytes=c.bytes // per_slice, group=across)
            dcn += c.count * hlo_collectives.ring_seconds(shard, chip.dcn_bytes_per_s)
    compute = report["flops_per_step_per_chip"] / chip.peak_bf16_flops
    step = compute + ici + dcn
    return {"compute_s": compute, "ici_s": ici, "dcn_s": dcn, "step_s": step,
            "communication_share": (ici + dcn) / step if step else 0.0,
            "collective_bytes": hlo_collectives.bytes_by_kind(found)}


def scaling_point(config: ConfigDict, topology: str, num_slices: int = 1) -> dict[str, Any]:
    """Compiles `config`'s step for the topology and returns aot's report plus the estimate."""
    from sscodec.train import aot

    report = aot.compile_for_topology(config, topology, num_slices, keep_hlo=True)
    found = hlo_collectives.collectives(report.pop("hlo"), report["chips"])
    chip = CHIPS[aot.chip_family(topology)]
    return {**report, **estimate(report, found, chip),
            "collectives": [dataclasses.asdict(c) for c in found]}


def extrapolate(point: dict[str, Any], topology: str, chips: int,
                num_slices: int = 1) -> dict[str, Any]:
    """A compiled data-parallel point carried to `chips` chips without compiling: with the same
    batch per chip, each chip runs the same program (same FLOPs, memory and collective bytes);
    only the collectives over all chips get the larger group (and cross slices over DCN).
    Groups smaller than the compiled point's chip count (an fsdp axis) are unchanged."""
    from sscodec.train import aot

    found = [hlo_collectives.Collective(**c) for c in point["collectives"]]
    found = [dataclasses.replace(c, group=chips) if c.group == point["chips"] else c
             for c in found]
    per_chip_batch = point["global_batch"] // point["chips"]
    report = {**point, "topology": topology, "num_slices": num_slices, "chips": chips,
              "global_batch": per_chip_batch * chips, "compile_s": 0.0,
              "mesh": {**point["mesh"], "data": chips // max(point["mesh"].get("fsdp", 1), 1)},
              "extrapolated_from": f"{point['topology']} x {point['num_slices']}"}
    chip = CHIPS[aot.chip_family(topology)]
    return {**report, **estimate(report, found, chip),
            "collectives": [dataclasses.asdict(c) for c in found]}


def with_efficiency(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds weak-scaling efficiency relative to the smallest point (same batch per chip)."""
    base = min(points, key=lambda p: p["chips"])["step_s"]
    return [{**p, "efficiency": base / p["step_s"]} for p in points]


def min_batch_per_chip(point: dict[str, Any], share: float = 0.10) -> int:
    """The smallest batch per chip whose estimated communication is at most `share` of the
    step: compute grows with the batch per chip, a data-parallel step's collectives (the
    gradients and codebook statistics) do not."""
    per_chip = point["global_batch"] // point["chips"]
    compute_per_example = point["compute_s"] / per_chip
    comm = point["ici_s"] + point["dcn_s"]
    return max(1, math.ceil(comm * (1 - share) / share / compute_per_example))


def markdown(points: list[dict[str, Any]], title: str, notes: str = "") -> str:
    """The report table: one row per point."""
    rows = [f"# {title}", "", notes, "",
            "| chips | slices | mesh | batch/chip | TFLOP/chip/step | HBM GiB/chip | all-reduce MB "
            "| all-gather MB | reduce-scatter MB | compute ms | ICI ms | DCN ms | comm share "
            "| efficiency vs 8 | batch/chip for comm <= 10% |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: p["chips"]):
        b = p["collective_bytes"]
        mesh = " x ".join(f"{k} {v}" for k, v in p["mesh"].items())
        rows.append(
            f"| {p['chips']} | {p['num_slices']} | {mesh} | {p['global_batch'] // p['chips']} "
            f"| {p['flops_per_step_per_chip'] / 1e12:.3f} "
            f"| {p['memory_per_chip']['total_gib']:.2f} | {b['all-reduce'] / 1e6:.1f} "
            f"| {b['all-gather'] / 1e6:.1f} | {b['reduce-scatter'] / 1e6:.1f} "
            f"| {1e3 * p['compute_s']:.2f} | {1e3 * p['ici_s']:.2f} | {1e3 * p['dcn_s']:.2f} "
            f"| {100 * p['communication_share']:.1f}% | {100 * p['efficiency']:.1f}%"
            + (" (extrapolated)" if p.get("extrapolated_from") else "")
            + f" | {min_batch_per_chip(p)} |")
    return "\n".join(rows) + "\n"


def plot(points: list[dict[str, Any]], path: str, title: str) -> None:
    """Efficiency (and communication share) against chips, log-scaled chips axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(points, key=lambda p: p["chips"])
    chips = [p["chips"] for p in points]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(chips, [100 * p["efficiency"] for p in points], "o-", label="weak-scaling efficiency")
    ax.plot(chips, [100 * p["communication_share"] for p in points], "s--",
            label="communication share of the step")
    ax.axhline(90, color="gray", lw=0.8, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xticks(chips, [str(c) for c in chips])
    ax.set_ylim(0, 105)
    ax.set_xlabel("chips")
    ax.set_ylabel("%")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="center left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
