"""Quality against training time: the in-training eval points of one or more runs, as a table and
a plot (`sscodec curve`).

Runs given in order form one chain (a warm-up run, then a run started from it with --init-from):
each run's hours start where the previous run's end. Training time is the sum over logged windows
of (steps in the window) / perf/steps_per_s, which the loop measures without the time spent on
evaluation, checkpoints and samples. A step logged twice (a resumed run repeats the steps after
its checkpoint) counts once, at its last record.
"""

from __future__ import annotations

import os
from typing import Sequence

from sscodec.train.reporting import read_metrics


def records_by_step(workdir: str) -> list[dict]:
    """The run's metrics.jsonl records in step order, one per step (a resumed run's repeat wins)."""
    records = {m["step"]: m for m in read_metrics(workdir)}  # last record of a step wins
    return [records[s] for s in sorted(records)]


def curve_points(workdirs: Sequence[str]) -> list[dict]:
    """One row per eval step: run, step, training hours (cumulative over the chain), eval/*."""
    rows, offset = [], 0.0
    for workdir in workdirs:
        if not os.path.exists(os.path.join(workdir, "metrics.jsonl")):
            raise FileNotFoundError(f"{workdir}: no metrics.jsonl (not a training run?)")
        hours, previous = offset, 0
        for m in records_by_step(workdir):
            rate = m.get("perf/steps_per_s")
            if rate and rate > 0:
                hours += (m["step"] - previous) / rate / 3600.0
            previous = m["step"]
            evals = {k: v for k, v in m.items()
                     if k.startswith("eval/") and k != "eval/failed_scores"}
            if evals:
                rows.append({"run": os.path.basename(os.path.normpath(workdir)),
                             "step": m["step"], "hours": hours, **evals})
        offset = hours
    return rows


def curve_table(rows: list[dict]) -> str:
    """A markdown table of the eval points."""
    keys = sorted({k for r in rows for k in r if k.startswith("eval/")})
    lines = ["| run | step | training hours | " + " | ".join(k[5:] for k in keys) + " |",
             "|---|---|---|" + "---|" * len(keys)]
    for r in rows:
        cells = [f"{r[k]:.3g}" if k in r else "" for k in keys]
        lines.append(f"| {r['run']} | {r['step']} | {r['hours']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curve(rows: list[dict], out: str,
               metrics: Sequence[str] = ("visqol_speech", "pesq")) -> None:
    """One panel per metric: each bitrate's eval points against training hours."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        keys = sorted({k for r in rows for k in r if k.startswith(f"eval/{metric}@")},
                      key=lambda k: float(k.split("@")[1].removesuffix("kbps")))
        for key in keys:
            pts = [(r["hours"], r[key]) for r in rows if key in r]
            ax.plot(*zip(*pts), marker="o", label=f"ours {key.split('@')[1]}")
        ax.set_xlabel("training hours (2 CPU cores)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
