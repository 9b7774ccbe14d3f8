"""`sscodec eval`: a model (and the Opus / codec2 baselines) on one evaluation set, every metric.

Each *system point* (a model at one bitrate, Opus at one target bitrate, codec2) codes every clip
of the set; the output is scored against the clip's reference (the clean speech for noisy inputs)
with ViSQOL (audio and speech modes), PESQ-WB, STOI, SI-SDR and the mel distance. The model goes
through the real `.ssc` path (encode, entropy-coded bitstream, decode), so its achieved bitrate is
the size of that stream, as Opus's is the size of its Ogg file.

Results: `eval.json` (settings, clips, one row per clip and point, a summary per system, bitrate
and category with 95% confidence intervals, the model's speed) and `eval.md` (the summary as
Markdown tables, one per category).

A multi-channel model is evaluated on [T, C] clips (mono files duplicated into every channel):
each metric is the mean over the channels, and rows and summary add each metric per channel and,
in stereo, on mid and side (`metrics.score_channels`; eval.md has a table of them). The
baselines code the mono mix and their output is scored as every channel.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from typing import Callable, Sequence

import numpy as np

from sscodec.evaluation import baselines

from sscodec.quality import metrics
from sscodec.quality.eval_data import EvalSet, build_eval_set
from sscodec.evaluation.eval_table import format_markdown, summarize

log = logging.getLogger(__name__)

DENOISE_MODES = ("auto", "on", "off", "both")


@dataclasses.dataclass
class SystemPoint:
    """One system at one bitrate: `code(clip)` -> (decoded audio, achieved kbps)."""

    system: str
    kbps: float  # nominal / target
    code: Callable[..., tuple[np.ndarray, float]]


# ---------------------------------------------------------------------------- the model


def model_bitrates(codec, kbps: Sequence[float] | None) -> list[float]:
    """The model's bitrates to evaluate for requested `kbps`: each snaps down to the nearest rate
    the model has; rates beyond its range are left out (with a warning). None = all its rates."""
    rates = codec.bitrates
    if kbps is None:
        return list(rates)
    chosen = []
    for k in kbps:
        if k > rates[-1] + 1e-6 or k < rates[0] - 1e-6:
            log.warning("%g kbps is outside this model's range (%g-%g kbps): skipped", k, rates[0],
                        rates[-1])
            continue
        rate = max(r for r in rates if r <= k + 1e-6)
        if rate not in chosen:
            chosen.append(rate)
    return chosen


def model_points(codec, name: str, kbps: Sequence[float] | None, denoise: str = "auto"
                 ) -> list[SystemPoint]:
    """The model at each bitrate, through compress -> .ssc bytes -> decompress.

    `denoise`: "auto" denoises noisy-speech inputs when the model has FiLM; "on" / "off" always /
    never; "both" gives two systems, NAME (off) and NAME+denoise (auto).
    """
    from sscodec.codec.codec_io import decode_from_stream, encode_to_stream

    if denoise not in DENOISE_MODES:
        raise ValueError(f"denoise must be one of {DENOISE_MODES}, got {denoise!r}")
    if denoise in ("on", "both") and codec.film == "none":
        raise ValueError(f"--denoise {denoise}: {name} was not trained to denoise "
                         "(model.film is 'none')")
    modes = {"both": [("off", name), ("auto", f"{name}+denoise")]}.get(denoise, [(denoise, name)])

    def coder(rate: float, mode: str):
        def code(clip, sample_rate: int):
            flag = mode == "on" or (mode == "auto" and codec.film != "none"
                                    and clip.category == "noisy_speech")
            _, data = encode_to_stream(codec, clip.input, sample_rate, rate, denoise=flag)
            _, audio = decode_from_stream(codec, data)
            return audio, len(data) * 8 / (len(clip.input) / sample_rate) / 1000
        return code

    return [SystemPoint(system, rate, coder(rate, mode))
            for mode, system in modes for rate in model_bitrates(codec, kbps)]


def measure_speed(codec, seconds: float = 4.0, repeats: int = 3) -> dict:
    """Real-time factors (audio seconds per second of compute) of offline encode and decode at
    full depth, after a warm-up call (compilation excluded), with JAX's default threads. The
    evaluation measures on its clip length, whose programs are already compiled."""
    x = np.random.default_rng(0).standard_normal(int(seconds * codec.sample_rate))
    x = (0.1 * x).astype(np.float32)
    codes = codec.encode(x, codec.sample_rate)
    codec.decode(codes)
    timings = {"encode": [], "decode": []}
    for _ in range(repeats):
        t = time.perf_counter()
        codes = codec.encode(x, codec.sample_rate)
        timings["encode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        codec.decode(codes)
        timings["decode"].append(time.perf_counter() - t)
    return {f"{k}_rtf": seconds / min(v) for k, v in timings.items()} | {"seconds": seconds}


# ---------------------------------------------------------------------------- baselines


def baseline_points(names: Sequence[str], opus_kbps: Sequence[float]) -> list[SystemPoint]:
    """Opus at each of `opus_kbps` and codec2 at 3.2 kbps, as system points."""
    points = []
    for name in names:
        if name == "opus":
            for k in opus_kbps:
                points.append(SystemPoint("Opus", float(k), _baseline(baselines.opus, kbps=k)))
        elif name == "codec2":
            points.append(SystemPoint("codec2", 3.2, _baseline(baselines.codec2, mode=3200)))
        else:
            raise ValueError(f"unknown baseline {name!r}; known: opus, codec2")
    return points


def _baseline(function, **kwargs):
    def code(clip, sample_rate: int):
        coded = function(clip.input, sample_rate, **kwargs)
        return coded.audio, coded.kbps
    return code


# ---------------------------------------------------------------------------- the loop


def score_points(points: Sequence[SystemPoint], eval_set: EvalSet,
                 metric_names: Sequence[str] = metrics.ALL_METRICS,
                 progress: bool = True) -> list[dict]:
    """Codes every clip with every point and scores it: one row per (clip, point)."""
    from tqdm import tqdm

    visqol = metrics.Visqol()
    rows = []
    bar = tqdm(total=len(points) * len(eval_set.clips), unit="clip", desc="eval",
               disable=not progress, dynamic_ncols=True)
    for clip in eval_set.clips:
        for point in points:
            bar.set_postfix_str(f"{point.system} {point.kbps:g} kbps", refresh=False)
            audio, achieved = point.code(clip, eval_set.sample_rate)
            scores = metrics.score_any(clip.reference, np.asarray(audio, np.float32),
                                       eval_set.sample_rate, speech=clip.speech, visqol=visqol,
                                       metrics=metric_names)
            rows.append({"system": point.system, "kbps": round(point.kbps, 6),
                         "kbps_actual": round(achieved, 4), "category": clip.category,
                         "clip": clip.name, **scores})
            bar.update()
    bar.close()
    return rows


def open_model(model: str | None, workdir: str | None, step: int | None = None,
               entropy_seconds: float = 120.0):
    """(Codec, bundle path): the bundle `model`, or `workdir`'s checkpoint exported to
    WORKDIR/bundle (re-exported when the checkpoint step differs)."""
    from sscodec.codec import Codec

    if (model is None) == (workdir is None):
        raise ValueError("give exactly one of --model BUNDLE and --workdir DIR")
    if workdir is not None:
        from sscodec.train.checkpoint import Checkpointer, locate
        from sscodec.train.export import export_bundle

        directory, located = locate(workdir)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"no checkpoints in {workdir}")
        wanted = step if step is not None else located
        if wanted is None:
            source = Checkpointer(directory, read_only=True)
            wanted = source.latest_step()
            source.close()
        if wanted is None:
            raise FileNotFoundError(f"no checkpoints in {workdir}")
        model = os.path.join(workdir, "bundle")
        manifest = os.path.join(model, "manifest.json")
        current = json.load(open(manifest)).get("step") if os.path.isfile(manifest) else None
        if current != wanted:
            log.info("exporting %s step %d to %s", workdir, wanted, model)
            export_bundle(workdir, model, wanted, "", entropy_seconds)
    return Codec.load(model), model


def parse_kbps(text: str | None) -> list[float] | None:
    """'3,6,12' -> [3.0, 6.0, 12.0]; None or '' or 'all' -> None."""
    if not text or text == "all":
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"bitrates must be comma-separated numbers, got {text!r}") from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"bitrates must be positive numbers, got {text!r}")
    return values


def run_eval(out: str, *, model: str | None = None, workdir: str | None = None,
             step: int | None = None, name: str | None = None, data: str = "embedded",
             noise: str = "", kbps: Sequence[float] | None = None,
             baseline_names: Sequence[str] = ("opus", "codec2"),
             opus_kbps: Sequence[float] = baselines.OPUS_KBPS, denoise: str = "auto",
             clip_seconds: float = 4.0, per_category: int = 50,
             categories: Sequence[str] | None = None,
             metric_names: Sequence[str] = metrics.ALL_METRICS, speed: bool = True,
             seed: int = 0, data_dir: str = "", entropy_seconds: float = 120.0,
             progress: bool = True) -> dict:
    """Everything `sscodec eval` does; writes OUT/eval.json and OUT/eval.md and returns the JSON."""
    metrics.check_metrics(metric_names)  # before any model loading or coding
    points, info = [], {}
    codec = None
    if model is not None or workdir is not None:
        codec, bundle = open_model(model, workdir, step, entropy_seconds)
        name = name or os.path.basename(os.path.normpath(workdir or bundle))
        points += model_points(codec, name, kbps, denoise)
        info = {"name": name, "bundle": codec.path or os.path.abspath(bundle),
                "step": codec.manifest.get("step"), "sha256": codec.manifest["sha256"],
                "bitrates": codec.bitrates, "film": codec.film,
                "parameters": codec.parameter_counts()}
    points += baseline_points(baseline_names, opus_kbps)
    if not points:
        raise ValueError("nothing to evaluate: give --model/--workdir or baselines")
    sample_rate = codec.sample_rate if codec is not None else 24_000
    channels = codec.channels if codec is not None else 1
    eval_set = build_eval_set(data, noise=noise, sample_rate=sample_rate,
                              clip_seconds=clip_seconds, per_category=per_category,
                              categories=categories, seed=seed, data_dir=data_dir,
                              channels=channels)
    log.info("evaluating %d system points on %d clips", len(points), len(eval_set.clips))
    rows = score_points(points, eval_set, metric_names, progress)
    result = {
        "format": "sscodec-eval/1",
        "model": info,
        "speed": measure_speed(codec, clip_seconds) if codec is not None and speed else None,
        "settings": {"data": data, "noise": noise, "clip_seconds": clip_seconds,
                     "per_category": per_category, "seed": seed, "denoise": denoise,
                     "metrics": list(metric_names), "baselines": list(baseline_names),
                     "opus_kbps": list(opus_kbps)},
        "clips": eval_set.describe(),
        "skipped": [{"item": i, "reason": r} for i, r in eval_set.skipped],
        "rows": rows,
        "summary": summarize(rows, list(metric_names) + (
            metrics.view_names(metric_names, channels) if channels > 1 else [])),
    }
    if channels > 1:
        result["channels"] = channels
    write_results(out, result)
    return result


def write_atomic(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary file of this process, so a reader (or another
    job writing the same file) never sees a partial file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_results(out: str, result: dict) -> None:
    """OUT/eval.json and OUT/eval.md."""
    write_atomic(os.path.join(out, "eval.json"), json.dumps(result, indent=1) + "\n")
    write_atomic(os.path.join(out, "eval.md"), format_markdown(result) + "\n")
