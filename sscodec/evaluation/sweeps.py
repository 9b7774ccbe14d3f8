"""Sweeps: the paper's experiments as lists of config diffs, run here or as one cluster job per point.

A sweep file in `experiments/sweeps/` defines `get_sweep()` returning a `Sweep`: its points (an
experiment config plus a few overrides each, and the bitrates to evaluate it at), the evaluation
settings shared by every point, and the table of the paper it reproduces (with the paper's own
numbers, drawn by `sscodec report`). A sweep folder holds

  sweep.json                    the sweep as run (points, overrides, eval settings, smoke or not)
  points/NAME/run/              the point's training run (checkpoints, metrics, samples)
  points/NAME/run/bundle/       its exported inference bundle
  points/NAME/eval/             eval.json / eval.md of the point (no baselines)
  points/NAME/result.json       or, for a sweep scored by its training-time validation
                                (`final_eval=False`, e.g. the recipe sweep): the last validation,
                                the validation curve, codebook perplexity and speed of the run
  baselines/                    eval.json / eval.md of Opus and codec2 on the same clips
  results.json                  everything collected (`sscodec sweep collect`)

Every step is resumable: training resumes from its latest checkpoint and finished evaluations are
kept, so running a sweep again continues where it stopped.

Scales (`--scale`): a paper sweep's `get_sweep(scale)` builds its points at
  paper  the paper's configs unchanged (C=32, D=256, 1 s crops, LibriTTS-scale data): accelerators
  cpu    each point derived from the CPU speech recipe (experiments/speech_cpu_24khz.py: its data,
         widths, crops and schedule) on a fixed step budget (CPU_STEPS), keeping exactly what the
         sweep varies (`Sweep.varies`), scored on the held-out speakers (CPU_EVAL)
so that a point differs from its neighbours only in the sweep's variable, at either scale.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
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

from sscodec.config import load_config
from sscodec.evaluation.evaluate import write_atomic

log = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASELINES = "baselines"


@dataclasses.dataclass
class Point:
    """One model of a sweep: `config` (relative to the repository root) changed by `overrides`."""

    name: str
    config: str
    overrides: dict = dataclasses.field(default_factory=dict)
    kbps: tuple[float, ...] | None = None  # bitrates to evaluate (None: all of the model's)
    denoise: str = "auto"  # see sscodec.evaluation.evaluate.model_points
    label: dict = dataclasses.field(default_factory=dict)  # table columns, e.g. {"N_q": 8}
    paper: dict = dataclasses.field(default_factory=dict)  # the paper's numbers for this point


@dataclasses.dataclass
class Sweep:
    """A set of points, their shared evaluation settings and the paper table they reproduce."""

    name: str
    title: str
    points: list[Point]
    layout: str = "by_rate"  # "by_rate": rows = kbps, a column per system; "by_point": a row each
    table_kbps: float | None = None  # by_point: the bitrate the table compares at
    table_category: str = "all"  # the category whose scores go in the table
    paper_note: str = ""  # what the paper says where it gives no numbers
    eval: dict = dataclasses.field(default_factory=dict)  # sscodec.evaluation.evaluate.run_eval settings
    baselines: tuple[str, ...] = ("opus", "codec2")
    opus_kbps: tuple[float, ...] = (6, 9, 12, 18, 24)
    # False: no export and `sscodec eval` per point; the point is scored by its run's training-time
    # validation (train.eval_*), summarized in points/NAME/result.json (see run_summary).
    final_eval: bool = True
    table_metrics: tuple[str, ...] = ("visqol_speech", "pesq")  # recipe layout: the delta columns
    scale: str = "paper"  # SCALES: the size the points were built at
    varies: tuple[str, ...] = ()  # the config keys the points differ in (and nothing else)
    table_metric: str = "visqol_audio"  # the metric of the paper-layout table
    budget: str = ""  # what each point trains for, in words (the report states it)

    def select(self, only: Sequence[str] | None) -> list[Point]:
        """Points named (or indexed) in `only`; all of them for None."""
        if not only:
            return list(self.points)
        by_name = {p.name: p for p in self.points}
        chosen = []
        for item in only:
            if item.isdigit() and int(item) < len(self.points):
                chosen.append(self.points[int(item)])
            elif item in by_name:
                chosen.append(by_name[item])
            elif item != BASELINES and not (item.isdigit() and int(item) == len(self.points)):
                raise ValueError(f"{self.name} has no point {item!r}; points: "
                                 f"{', '.join(by_name)} (or 0-{len(self.points)}, the last "
                                 f"being '{BASELINES}')")
        return chosen

    def wants_baselines(self, only: Sequence[str] | None) -> bool:
        return bool(self.baselines) and (not only or BASELINES in only
                                         or str(len(self.points)) in only)


def load_sweep(path: str, scale: str | None = None) -> Sweep:
    """Loads a sweep file (calls its `get_sweep(scale)`; None: the file's default scale) and
    checks every point's config loads."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sweep file not found: {path}")
    if scale is not None and scale not in SCALES:
        raise ValueError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    spec = importlib.util.spec_from_file_location(f"sscodec_sweep_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_sweep"):
        raise ValueError(f"{path} defines no get_sweep()")
    if "scale" in inspect.signature(module.get_sweep).parameters:
        sweep = module.get_sweep() if scale is None else module.get_sweep(scale=scale)
    else:  # a sweep built at one scale only (the recipe sweep, the tiny demo)
        sweep = module.get_sweep()
        if scale is not None and scale != sweep.scale:
            raise ValueError(f"{path} is built at one scale only ({sweep.scale}); "
                             f"drop --scale {scale}")
    names = [p.name for p in sweep.points]
    if len(set(names)) != len(names) or BASELINES in names:
        raise ValueError(f"{path}: point names must be unique and not '{BASELINES}': {names}")
    for point in sweep.points:
        point_config(point)  # a bad key fails now, naming it, not hours into the sweep
    return sweep


# ---------------------------------------------------------------------------- scales

SCALES = ("paper", "cpu")
CPU_RECIPE = "experiments/speech_cpu_24khz.py"
# 3,000 steps of 8 x 0.4 s: about 22 minutes of 2 idle cores for the recipe's own size (~2.3
# steps/s), plus 1-5 minutes of evaluation; the recipe's cosine decays over these steps. At 1,200
# steps (Fig. 7c, measured) the bitrate barely mattered yet: the scalable model's held-out
# ViSQOL rose by +0.02 and PESQ by +0.03 from 1.5 to 6 kbps, so every "as good as" held
# vacuously; at ~3,000 (the recipe sweep's sscodec_cpu) it rose by +0.13 and +0.15.
CPU_STEPS = 3000
CPU_COMMON = {"num_steps": CPU_STEPS, "train.eval_every": 500, "train.sample_every": 0}
CPU_BUDGET = (f"{CPU_STEPS:,} steps of 8 x 0.4 s crops each (the CPU speech recipe's "
              "batch, crops, learning rates and cosine schedule)")
# Held-out speakers (it, ru), every 4 s clip of them, as `sscodec ship` scores a model.
CPU_METRICS = ("visqol_speech", "pesq", "stoi", "si_sdr", "mel_distance")
CPU_EVAL = {"data": "data/asterisk/eval", "categories": ("clean_speech",),
            "metric_names": CPU_METRICS}
CPU_OPUS_KBPS = (6, 9, 12)


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    return scale


def cpu_point(name: str, overrides: dict | None = None, **kwargs) -> Point:
    """A point of the CPU scale: the CPU speech recipe on CPU_STEPS steps, plus `overrides`
    (the sweep's variable, and what the sweep holds fixed that the recipe sets otherwise)."""
    return Point(name, CPU_RECIPE, {**CPU_COMMON, **(overrides or {})}, **kwargs)


def cpu_scale(sweep: Sweep, eval_extra: dict | None = None) -> Sweep:
    """Marks a sweep built of `cpu_point`s as CPU scale: its evaluation, table metric, budget and
    baselines' Opus rates."""
    return dataclasses.replace(sweep, scale="cpu", eval={**CPU_EVAL, **(eval_extra or {})},
                               table_metric="visqol_speech", budget=CPU_BUDGET,
                               opus_kbps=CPU_OPUS_KBPS)


# ---------------------------------------------------------------------------- configs

# --smoke: every point shrunk to run end to end on a laptop CPU in about a minute. The points'
# differences (quantizers, codebook size, dropout, FiLM, the encoder/decoder width ratio) are kept.
SMOKE_CHANNEL_DIVISOR = 8
SMOKE = {"num_steps": 3, "model.embedding_dim": 32, "discriminator.wave_channels": 4,
         "discriminator.wave_max_channels": 64, "discriminator.stft_channels": 4,
         "loss.mel_windows": (64, 128, 256, 512, 1024), "data.crop_frames": 40,
         "data.batch_size": 4, "train.log_every": 1, "train.sample_every": 0,
         "train.checkpoint_every": 1000}
SMOKE_EVAL = {"per_category": 1, "clip_seconds": 2.0, "entropy_seconds": 20.0}


def _resolve(path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def _format(value) -> str:
    return repr(value) if not isinstance(value, str) else value


def point_config(point: Point, smoke: bool = False, steps: int | None = None):
    """The point's resolved config and the `--config.KEY=VALUE` overrides that produce it."""
    overrides = {**point.overrides}
    if smoke:
        config = load_config(_resolve(point.config), _as_args(overrides))
        overrides.update(SMOKE)
        for key in ("encoder_channels", "decoder_channels"):
            overrides[f"model.{key}"] = max(1, config.model[key] // SMOKE_CHANNEL_DIVISOR)
        if not isinstance(config.loss.mel_bins, int):  # the bins of the windows smoke keeps
            per_window = dict(zip(config.loss.mel_windows, config.loss.mel_bins))
            overrides["loss.mel_bins"] = tuple(per_window.get(w, 64)
                                               for w in SMOKE["loss.mel_windows"])
    if steps is not None:
        overrides["num_steps"] = steps
    args = _as_args(overrides)
    return load_config(_resolve(point.config), args), args


def _as_args(overrides: dict) -> list[str]:
    return [f"{k}={_format(v)}" for k, v in overrides.items()]


# ---------------------------------------------------------------------------- running


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
    command = [sys.executable, "-m", "sscodec.cli", "train", "--config", _resolve(point.config),
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
