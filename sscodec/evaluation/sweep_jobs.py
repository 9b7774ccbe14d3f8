"""Submitting a sweep to a cluster: one job per point (a SLURM job array, or one XPK workload each),
plus one job for the baselines, then a report job once they are all done.

Every job runs `sscodec sweep run SWEEP --out OUT --only POINT`, the same command as a local run
restricted to one point, so a cluster sweep and a local one write the same folder. OUT must be a
filesystem every job sees (NFS/Lustre on SLURM; a gcsfuse mount on GKE). Each point trains on one
node (SLURM: the node's GPUs) or one single-host TPU slice (XPK).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from typing import Sequence

from sscodec.evaluation.sweeps import BASELINES, ROOT, Sweep

SBATCH_TEMPLATE = """#!/usr/bin/env bash
# Sweep {name}: array task i runs point i ({count} points; task {last} runs the baselines).
#SBATCH --job-name=sweep-{name}
#SBATCH --array={array}
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --signal=TERM@120
#SBATCH --requeue
#SBATCH --output={logs}/%A_%a.out
set -euo pipefail
cd {root}
VENV=${{VENV:-/tmp/sscodec-venv}}
[[ -x $VENV/bin/python ]] || (python3 -m venv $VENV && \\
  $VENV/bin/pip install -q -r requirements.txt -e . 'jax[cuda12]==0.10.2')
exec $VENV/bin/sscodec sweep run {sweep} --out {out} --only "$SLURM_ARRAY_TASK_ID"{extra}
"""


def _extra(smoke: bool, steps: int | None, data: str | None, scale: str | None = None) -> str:
    return ((f" --scale {scale}" if scale else "") + (" --smoke" if smoke else "")
            + (f" --steps {steps}" if steps is not None else "")
            + (f" --data {shlex.quote(data)}" if data else ""))


def _tasks(sweep: Sweep, only: Sequence[str] | None) -> list[tuple[int, str]]:
    """(array index, point name) of the jobs to submit; the baselines are index len(points)."""
    chosen = {p.name for p in sweep.select(only)}
    tasks = [(i, p.name) for i, p in enumerate(sweep.points) if p.name in chosen]
    if sweep.wants_baselines(only):
        tasks.append((len(sweep.points), BASELINES))
    return tasks


def _run(command: list[str], dry_run: bool) -> str:
    if dry_run:
        return ""
    if not shutil.which(command[0]):
        raise FileNotFoundError(f"{command[0]} not found: submit from a machine that has it, or "
                                "use --dry-run to write the job files only")
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def submit(sweep: Sweep, sweep_file: str, out: str, cluster: str,
           only: Sequence[str] | None = None, smoke: bool = False, steps: int | None = None,
           dry_run: bool = False, sbatch_args: str = "", xpk_cluster: str = "",
           tpu_type: str = "v5litepod-8", data: str | None = None,
           scale: str | None = None) -> list[str]:
    """Submits the sweep; returns the commands run (or, with `dry_run`, to run) and job ids."""
    from sscodec.evaluation.sweep_runs import describe, write_json

    tasks = _tasks(sweep, only)
    write_json(os.path.join(out, "sweep.json"), describe(sweep, smoke, steps))
    if cluster == "xpk":  # the job sees a copy of this checkout and OUT as mounted there
        sweep_file = os.path.relpath(os.path.abspath(sweep_file), ROOT)
    else:
        out, sweep_file = os.path.abspath(out), os.path.abspath(sweep_file)
    lines = []
    if cluster == "slurm":
        logs = os.path.join(out, "slurm")
        os.makedirs(logs, exist_ok=True)
        script = os.path.join(logs, "sweep.sbatch")
        with open(script, "w") as f:
            f.write(SBATCH_TEMPLATE.format(
                name=sweep.name, count=len(sweep.points), last=len(sweep.points),
                array=",".join(str(i) for i, _ in tasks), logs=logs, root=shlex.quote(ROOT),
                sweep=shlex.quote(sweep_file), out=shlex.quote(out),
                extra=_extra(smoke, steps, data, scale)))
        command = ["sbatch", "--parsable", *shlex.split(sbatch_args), script]
        lines.append(" ".join(command))
        job = _run(command, dry_run).split(";")[0] or "JOBID"
        report = ["sbatch", "--parsable", f"--dependency=afterany:{job}",
                  f"--output={logs}/report.out", "--job-name", f"report-{sweep.name}",
                  "--wrap", f"cd {shlex.quote(ROOT)} && ${{VENV:-/tmp/sscodec-venv}}/bin/sscodec "
                            f"report {shlex.quote(out)}"]
        lines.append(" ".join(shlex.quote(c) for c in report))
        report_job = _run(report, dry_run)
        if not dry_run:
            lines.append(f"submitted array job {job} ({len(tasks)} tasks) and report job "
                         f"{report_job}; logs in {logs}")
        return lines
    if cluster != "xpk":
        raise ValueError(f"cluster must be slurm or xpk, got {cluster!r}")
    if not xpk_cluster:
        raise ValueError("--cluster xpk needs --xpk-cluster NAME")
    stamp = time.strftime("%m%d%H%M")
    for index, name in tasks:
        inner = (f"python3 -m pip install -q -r requirements.txt -e . 'jax[tpu]==0.10.2' && "
                 f"sscodec sweep run {shlex.quote(sweep_file)} --out {shlex.quote(out)} "
                 f"--only {name}{_extra(smoke, steps, data, scale)}")
        workload = f"{sweep.name}-{index}-{stamp}".replace("_", "-").lower()[:40]
        command = ["xpk", "workload", "create", "--cluster", xpk_cluster, "--workload", workload,
                   "--tpu-type", tpu_type, "--num-slices", "1",
                   "--base-docker-image", "python:3.11-slim", "--script-dir", ROOT,
                   "--command", inner]
        lines.append(" ".join(shlex.quote(c) for c in command))
        _run(command, dry_run)
    lines.append(f"when all {len(tasks)} workloads are done: sscodec report {shlex.quote(out)}")
    return lines
