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
kept, so running a sweep again continues where it stopped. This module defines sweeps, their
scales and their points' configs; sweep_runs.py runs them and gathers their results.

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
import os
from typing import Sequence

from sscodec.config import load_config

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


def experiment_path(path: str) -> str:
    """A point's config path: absolute, or relative to the repository root."""
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def _format(value) -> str:
    return repr(value) if not isinstance(value, str) else value


def point_config(point: Point, smoke: bool = False, steps: int | None = None):
    """The point's resolved config and the `--config.KEY=VALUE` overrides that produce it."""
    overrides = {**point.overrides}
    if smoke:
        config = load_config(experiment_path(point.config), _as_args(overrides))
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
    return load_config(experiment_path(point.config), args), args


def _as_args(overrides: dict) -> list[str]:
    return [f"{k}={_format(v)}" for k, v in overrides.items()]
