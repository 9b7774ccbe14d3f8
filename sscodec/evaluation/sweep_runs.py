"""Running a sweep here (`sscodec sweep run`): each point trained in its own process, evaluated with
its bundle, timed, and resumable; and gathering the points' results (`sscodec sweep collect`,
`sscodec report`). The folder layout is described in sweeps.py."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import signal
import subprocess
import sys
import time
from typing import Sequence

from sscodec.evaluation.evaluate import write_atomic
from sscodec.evaluation.sweeps import (BASELINES, ROOT, SMOKE_EVAL, Point, Sweep, experiment_path,
                                       point_config)

log = logging.getLogger(__name__)


def point_dir(out: str, name: str) -> str:
    return os.path.join(out, "points", name)


def eval_settings(sweep: Sweep, smoke: bool) -> dict:
    return {**sweep.eval, **(SMOKE_EVAL if smoke else {})}


def write_json(path: str, value) -> None:
    write_atomic(path, json.dumps(value, indent=1))


def train_point(point: Point, workdir: str, smoke: bool = False, steps: int | None = None) -> None:
    """Trains (or resumes) the point with `sscodec train` in a child process, as a cluster job
    would, so every point starts from a clean JAX runtime."""
    _, args = point_config(point, smoke, steps)
    command = [sys.executable, "-m", "sscodec.cli", "train", "--config", experiment_path(point.config),
               "--workdir", workdir, *[f"--config.{a}" for a in args]]
    log.info("training %s: %s", point.name, " ".join(command[2:]))
    child = subprocess.Popen(command, cwd=ROOT)

    def forward(signum, frame):  # a preemption notice (SLURM, GKE) must reach the trainer
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if code != 0:
        raise RuntimeError(f"training point {point.name} failed with exit code {code} "
                           f"(command: {' '.join(command[2:])})")
    if not os.path.isfile(os.path.join(workdir, "config.json")) or _stopped_early(workdir, point,
                                                                                   smoke, steps):
        raise RuntimeError(f"training point {point.name} stopped before its last step "
                           "(preempted?); run the sweep again to resume it")


def _stopped_early(workdir: str, point: Point, smoke: bool, steps: int | None) -> bool:
    """Whether the run's latest checkpoint is short of num_steps (a preempted run exits 0) and
    the run did not end on its time budget (train.time_budget_s) there."""
    from sscodec.train.checkpoint import Checkpointer, locate
    from sscodec.train.loop import BUDGET_FILE

    config, _ = point_config(point, smoke, steps)
    checkpoints = Checkpointer(locate(workdir)[0], read_only=True)
    try:
        latest = checkpoints.latest_step() or 0
    finally:
        checkpoints.close()
    budget = os.path.join(workdir, BUDGET_FILE)
    if os.path.isfile(budget):
        with open(budget) as f:
            if json.load(f)["step"] == latest:
                return False
    return latest < config.num_steps


def run_sweep(sweep: Sweep, out: str, only: Sequence[str] | None = None, smoke: bool = False,
              steps: int | None = None, progress: bool = True) -> None:
    """Trains, exports and evaluates the selected points one after another, then the baselines."""
    from sscodec.evaluation.evaluate import run_eval

    points = sweep.select(only)
    write_json(os.path.join(out, "sweep.json"), describe(sweep, smoke, steps))
    settings = eval_settings(sweep, smoke)
    for i, point in enumerate(points):
        where = point_dir(out, point.name)
        result = result_path(sweep.final_eval, out, point.name)
        if os.path.isfile(result):
            log.info("[%d/%d] %s: already evaluated (%s)", i + 1, len(points), point.name, result)
            continue
        log.info("[%d/%d] %s", i + 1, len(points), point.name)
        started = time.monotonic()
        train_point(point, os.path.join(where, "run"), smoke, steps)
        if not sweep.final_eval:
            write_json(result, run_summary(os.path.join(where, "run")))
            continue
        trained = time.monotonic()
        run_eval(os.path.join(where, "eval"), workdir=os.path.join(where, "run"),
                 name=point.name, kbps=point.kbps, baseline_names=(), denoise=point.denoise,
                 progress=progress, **settings)
        # For `sscodec report`: the run's training clock (kept across resumes and preemptions)
        # where it logged one, else this call's, and the evaluation's wall time.
        train_s = _train_seconds(os.path.join(where, "run"))
        write_json(os.path.join(where, "timing.json"),
                   {"train_s": trained - started if train_s is None else train_s,
                    "eval_s": time.monotonic() - trained, "machine": host_description()})
    if sweep.wants_baselines(only) and not os.path.isfile(
            os.path.join(out, BASELINES, "eval.json")):
        log.info("baselines: %s", ", ".join(sweep.baselines))
        run_eval(os.path.join(out, BASELINES), baseline_names=sweep.baselines,
                 opus_kbps=sweep.opus_kbps, progress=progress, **settings)


def _train_seconds(workdir: str) -> float | None:
    """The last `perf/train_seconds` the run logged (its wall or CPU clock, summed over every
    resume; train.time_budget_clock), or None."""
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.isfile(path):
        return None
    seconds = None
    with open(path) as f:
        for line in f:
            if '"perf/train_seconds"' in line:
                try:
                    seconds = json.loads(line)["perf/train_seconds"]
                except (ValueError, KeyError):
                    continue  # a line cut short by a crash
    return seconds


def result_path(final_eval: bool, out: str, name: str) -> str:
    """Where a point's finished score lives: its `sscodec eval` or its run summary."""
    where = point_dir(out, name)
    return os.path.join(where, "eval", "eval.json") if final_eval else os.path.join(where,
                                                                                    "result.json")


def host_description() -> str:
    """This machine's CPU model and core count, e.g. "AMD EPYC, 2 cores": a budget on the CPU
    clock buys different step counts on different CPUs, so results say where they were measured."""
    model, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and ":" in line:
                    flags = line.split(":", 1)[1]
    except OSError:
        pass
    return f"{model}{' (AMX)' if 'amx_tile' in flags.split() else ''}, {os.cpu_count()} cores"


def run_summary(workdir: str, tail: float = 0.2) -> dict:
    """A run scored by its training-time validation: the last eval record ("final"), every eval
    record with its step and training seconds ("curve"), and over the last `tail` of the logged
    steps the mean codebook perplexity per quantizer and the training speed."""
    from sscodec.evaluation.curves import records_by_step

    records = records_by_step(workdir)
    if not records:
        raise FileNotFoundError(f"{workdir}: no metrics logged")
    curve = []
    for m in records:
        evals = {k[len("eval/"):]: v for k, v in m.items()
                 if k.startswith("eval/") and k != "eval/failed_scores"}
        if evals:
            curve.append({"step": m["step"], "train_seconds": m.get("perf/train_seconds"), **evals})
    logged = [m for m in records if "perf/steps_per_s" in m]
    late = logged[int(len(logged) * (1 - tail)):] or logged
    mean = lambda key: (sum(m[key] for m in late if key in m)
                        / max(1, sum(key in m for m in late)))
    quantizers = sorted((k for k in late[-1] if k.startswith("rvq/perplexity_q")),
                        key=lambda k: int(k.rsplit("q", 1)[1]))
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    last = records[-1]
    seconds = last.get("perf/train_seconds")
    strides = config["model"]["strides"]
    audio_per_step = (config["data"]["batch_size"] * config["data"]["crop_frames"]
                      * math.prod(strides) / config["sample_rate"])
    return {"final": curve[-1] if curve else {}, "curve": curve,
            # audio trained on per second of the budget's clock: the speed measure that another
            # job on the machine barely moves (audio_s_per_s is on the wall clock)
            "audio_s_per_budget_s": last["step"] * audio_per_step / seconds if seconds else None,
            "steps": last["step"], "train_seconds": seconds,
            "clock": config["train"]["time_budget_clock"],
            "steps_per_s": mean("perf/steps_per_s"), "audio_s_per_s": mean("perf/audio_s_per_s"),
            "perplexity": [mean(k) for k in quantizers],
            "codebook_size": config["quantizer"]["codebook_size"], "machine": host_description()}


def describe(sweep: Sweep, smoke: bool = False, steps: int | None = None) -> dict:
    """The sweep as JSON: what `sscodec report` reads back."""
    value = dataclasses.asdict(sweep)
    for point, entry in zip(sweep.points, value["points"]):
        entry["overrides_applied"] = point_config(point, smoke, steps)[1]
    return value | {"smoke": smoke, "steps": steps}


def gather(out: str) -> dict:
    """Gathers sweep.json and every finished evaluation into OUT/results.json and returns it."""
    path = os.path.join(out, "sweep.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{out} is not a sweep folder (no sweep.json); run "
                                "`sscodec sweep run` first")
    with open(path) as f:
        sweep = json.load(f)
    results, missing = {}, []
    for point in sweep["points"]:
        file = result_path(sweep.get("final_eval", True), out, point["name"])
        if os.path.isfile(file):
            with open(file) as f:
                results[point["name"]] = json.load(f)
        else:
            missing.append(point["name"])
    baselines = None
    if os.path.isfile(os.path.join(out, BASELINES, "eval.json")):
        with open(os.path.join(out, BASELINES, "eval.json")) as f:
            baselines = json.load(f)
    elif sweep["baselines"]:
        missing.append(BASELINES)
    gathered = {"sweep": sweep, "points": results, "baselines": baselines, "missing": missing}
    write_json(os.path.join(out, "results.json"), gathered)
    return gathered


def collect(out: str) -> str:
    """`gather`, then a one-line account of what is there and what is missing."""
    results = gather(out)
    missing = results["missing"]
    return (f"{os.path.join(out, 'results.json')}: {len(results['points'])} of "
            f"{len(results['sweep']['points'])} points"
            + (f"; missing: {', '.join(missing)}" if missing else ""))
