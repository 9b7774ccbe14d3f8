"""`sscodec ship`: a finished training run -> a named model shipped in the package.

  sscodec ship --workdir runs/speech_cpu --name speech_cpu_24khz --eval-data data/asterisk/eval \
      --config experiments/speech_cpu_24khz.py

exports the run's checkpoint (sscodec.codec.export), scores it and the codec2 / Opus baselines on the
held-out clean speech (sscodec.evaluation.evaluate), and writes the bundle to OUT/NAME (default
sscodec/pretrained/NAME, where `Codec.load(NAME)` finds it) with:

  the `sscodec export` files  params.safetensors, config.json, manifest.json (with "name"),
                              entropy tables, the StableHLO encoder / decoder
  MODEL_CARD.md   name, architecture and parameters, bitrates, the config file and overrides,
                  steps, time and audio seen, the data and its licences, the eval table
                  (its text: sscodec.evaluation.model_card)
  eval.json       the evaluation (sscodec eval's format)
  PROVENANCE.md   the training (and eval) data's provenance file(s), copied

The bundle must stay small enough to ship in the repository (`max_mb`, 10 by default): with
params_dtype "auto" the parameters are stored as float16 when the float32 bundle would be larger,
and the float32 model is then scored on the same clips so the card states what float16 costs.
The bundle is assembled in a temporary folder beside OUT/NAME and renamed into place at the end.
Replacing a shipped model (--force) compares the two on the clean-speech clips both were scored on
(the replaced bundle's eval.json): the paired differences go in the card and in eval.json's
"replaces", so a model is only ever swapped with its effect stated.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import tempfile
from typing import Sequence

from sscodec import pretrained
from sscodec.config import dotted_items
from sscodec.evaluation.model_card import (CATEGORY, PROVENANCE, _mb, float16_effect, model_card,
                                           replacement_effect)

log = logging.getLogger(__name__)

CARD = "MODEL_CARD.md"
EVAL_JSON = "eval.json"
DEFAULT_KBPS = (1.5, 3.0, 6.0)
DEFAULT_OPUS_KBPS = (6.0, 9.0, 12.0)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------------------- the run


def _override_text(key: str, value) -> str:
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, (list, tuple)):
        text = repr(tuple(value))
    else:
        text = str(value)
    return f"--config.{key}={text}"


def config_overrides(run_config: dict, config_file: str) -> list[str]:
    """The `--config.KEY=VALUE` overrides that turn `config_file` into the run's config.json."""
    from sscodec.config import load_config
    base = json.loads(json.dumps(load_config(config_file).to_dict(), default=list))
    ran, start = dotted_items(run_config), dotted_items(base)
    return [_override_text(k, ran[k]) for k in sorted(ran) if start.get(k, object()) != ran[k]]


def training_config(run_config: dict, config_file: str | None) -> dict:
    """{"file", "overrides", "inferred"}: the experiment file the run was started from (given,
    or else the experiments/*.py closest to the run's config.json: runs do not record it) and
    the overrides it took."""
    if config_file:
        return {"file": config_file, "overrides": config_overrides(run_config, config_file),
                "inferred": False}
    best = None
    for candidate in sorted(glob.glob(os.path.join(REPO_ROOT, "experiments", "*.py"))):
        try:
            overrides = config_overrides(run_config, candidate)
        except Exception as e:  # noqa: BLE001  (any experiment file that does not load)
            log.debug("skipping %s: %s", candidate, e)
            continue
        if best is None or len(overrides) < len(best[1]):
            best = (candidate, overrides)
    if best is None:
        return {"file": None, "overrides": [], "inferred": True}
    return {"file": os.path.relpath(best[0], REPO_ROOT), "overrides": best[1], "inferred": True}


def _read_jsonl(path: str) -> list[dict]:
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def run_statistics(workdir: str, run_config: dict, step: int) -> dict:
    """Steps, time and audio of `workdir` up to checkpoint `step`, from metrics.jsonl (each
    logged line covers the steps since the previous logged step below it, at its steps/s, plus
    its validation seconds), the TensorBoard event files (one per session, named by their start
    time) and the checkpoint's Orbax metadata (commit time) and meta item (last metrics)."""
    import bisect
    data = run_config["data"]
    frame = 1
    for s in run_config["model"]["strides"]:
        frame *= s
    crop_seconds = data["crop_frames"] * frame / run_config["sample_rate"]
    logged: list[int] = []
    train_seconds = eval_seconds = 0.0
    last_eval: dict = {}
    for row in _read_jsonl(os.path.join(workdir, "metrics.jsonl")):
        s = int(row.get("step", 0))
        if s > step:
            continue
        i = bisect.bisect_left(logged, s)
        previous = logged[i - 1] if i else 0
        if row.get("perf/steps_per_s"):
            train_seconds += (s - previous) / row["perf/steps_per_s"]
        eval_seconds += row.get("perf/eval_seconds", 0.0)
        evals = {k: v for k, v in row.items() if k.startswith("eval/")}
        if evals:
            last_eval = {"step": s, **evals}
        if i == len(logged) or logged[i] != s:
            logged.insert(i, s)
    checkpoint = os.path.join(workdir, "checkpoints", str(step))
    meta = _read_json(os.path.join(checkpoint, "meta", "metadata"))
    committed = _read_json(os.path.join(checkpoint, "_CHECKPOINT_METADATA")).get(
        "commit_timestamp_nsecs")
    starts = []
    for path in glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*")):
        match = re.match(r"events\.out\.tfevents\.(\d+)", os.path.basename(path))
        if match:
            starts.append(int(match.group(1)))
    started = min(starts) if starts else None
    finished = committed / 1e9 if committed else None
    return {
        "step": step,
        "num_steps": run_config["num_steps"],
        "batch_size": data["batch_size"],
        "crop_seconds": crop_seconds,
        "audio_seconds": step * data["batch_size"] * crop_seconds,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "sessions": len(starts),
        "started": started,
        "finished": finished,
        "wall_seconds": finished - started if started and finished else None,
        "last_metrics": meta.get("metrics") or {},
        "last_eval": last_eval,
    }


# ---------------------------------------------------------------------------- data provenance


def provenance_file(spec: str) -> str | None:
    """The PROVENANCE.md of a data spec: in its folder (a manifest's folder) or up to two folders
    above; the embedded corpus's own; None for TFDS or when there is none."""
    from data_pipelines.specs import EMBEDDED_DIR, parse_spec
    if spec in ("", "embedded"):
        folder = EMBEDDED_DIR
    else:
        parsed = parse_spec(spec)
        if parsed.form == "tfds":
            return None
        folder = parsed.path if parsed.form == "folder" else os.path.dirname(parsed.path)
    for _ in range(3):
        path = os.path.join(folder, PROVENANCE)
        if os.path.isfile(path):
            return os.path.realpath(path)
        folder = os.path.dirname(folder)
    return None


def training_sources(run_config: dict) -> list[dict]:
    from sscodec.config import mixture
    return mixture(run_config["data"]["train"], tuple(run_config["data"]["kinds"]))


def provenance_files(sources: Sequence[dict], eval_data: str,
                     given: Sequence[str] | None = None) -> list[str]:
    """The provenance files to ship: `given`, else those of every training source and of the
    eval data (deduplicated); raises if a training source has none."""
    if given:
        missing = [p for p in given if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"provenance file(s) not found: {', '.join(missing)}")
        return [os.path.realpath(p) for p in given]
    files = []
    for source in sources:
        path = provenance_file(source["spec"])
        if path is None:
            raise FileNotFoundError(
                f"no {PROVENANCE} for the training data {source['spec']!r} (looked in its folder "
                "and two above): pass --provenance FILE with its sources and licences")
        files.append(path)
    path = provenance_file(eval_data)
    if path is not None:
        files.append(path)
    return list(dict.fromkeys(files))


def bundle_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


# ---------------------------------------------------------------------------- ship


def ship(workdir: str, name: str, eval_data: str, *, out: str | None = None,
         step: int | None = None, kbps: Sequence[float] | None = DEFAULT_KBPS,
         config_file: str | None = None, params_dtype: str = "auto", max_mb: float = 10.0,
         float32_check: bool = True, per_category: int = 50, clip_seconds: float = 4.0,
         metric_names: Sequence[str] | None = None,
         baseline_names: Sequence[str] = ("opus", "codec2"),
         opus_kbps: Sequence[float] = DEFAULT_OPUS_KBPS, entropy_data: str = "",
         entropy_seconds: float = 120.0, provenance: Sequence[str] | None = None,
         speed: bool = True, force: bool = False, progress: bool = True) -> dict:
    """Exports, evaluates and documents `workdir`'s checkpoint as the model OUT/NAME (see the
    module docstring); returns {"path", "manifest", "sizes", "eval", "float16_effect"}."""
    from sscodec.quality import metrics
    from sscodec.codec import Codec
    from sscodec.evaluation.evaluate import run_eval, write_atomic
    from sscodec.train.export import load_run
    from sscodec.codec.export import write_bundle

    if not pretrained.NAME_PATTERN.match(name):
        raise ValueError(f"--name {name!r}: use letters, digits, '.', '_' and '-' (a folder name)")
    if params_dtype not in ("auto", "float32", "float16"):
        raise ValueError(f"params_dtype must be auto, float32 or float16, got {params_dtype!r}")
    metric_names = list(metric_names or metrics.ALL_METRICS)
    metrics.check_metrics(metric_names)
    out = os.path.abspath(out or pretrained.PACKAGE_DIR)
    dest = os.path.join(out, name)
    if os.path.exists(dest) and not force:
        raise FileExistsError(f"{dest} exists: pass --force to replace it")
    run_config = _read_json(os.path.join(workdir, "config.json"))
    if not run_config:
        raise FileNotFoundError(f"no config.json in {workdir}: not a training run")
    training = training_config(run_config, config_file)
    sources = training_sources(run_config)
    provenance = provenance_files(sources, eval_data, provenance)
    extra = sum(os.path.getsize(p) for p in provenance)
    limit = max_mb * 1e6 if max_mb and max_mb > 0 else None

    os.makedirs(out, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}.ship-", dir=out)
    try:
        config, weights, saved_step, counts = load_run(workdir, step, entropy_data,
                                                       entropy_seconds)
        bundle = os.path.join(staging, "bundle")
        full = os.path.join(staging, "float32")
        dtype = params_dtype
        if dtype in ("auto", "float32") or float32_check:
            write_bundle(config, weights, full, saved_step, counts)
            if dtype == "auto":
                size = bundle_size(full) + extra
                dtype = "float16" if limit is not None and size > limit else "float32"
                log.info("float32 bundle with provenance: %s; storing parameters as %s",
                         _mb(size), dtype)
        if dtype == "float32":
            os.replace(full, bundle)
        else:
            write_bundle(config, weights, bundle, saved_step, counts, params_dtype="float16")
        _check_size(bundle, extra, limit, dtype)

        manifest_path = os.path.join(bundle, "manifest.json")
        manifest = _read_json(manifest_path)
        manifest["name"] = name
        write_atomic(manifest_path, json.dumps(manifest, indent=2))

        common = dict(data=eval_data, kbps=kbps, categories=[CATEGORY],
                      per_category=per_category, clip_seconds=clip_seconds,
                      metric_names=metric_names, entropy_seconds=entropy_seconds,
                      progress=progress)
        result = run_eval(os.path.join(staging, "eval"), model=bundle, name=name,
                          baseline_names=list(baseline_names), opus_kbps=list(opus_kbps),
                          speed=speed, **common)
        effect = None
        if dtype == "float16" and float32_check:
            result32 = run_eval(os.path.join(staging, "eval32"), model=full, name=name,
                                baseline_names=[], speed=False, **common)
            effect = float16_effect(result, result32, metric_names)
            result["float16_effect"] = effect
        result["model"]["bundle"] = name
        replaced = replacement_effect(result, _read_json(os.path.join(dest, EVAL_JSON)),
                                      metric_names)
        if replaced:
            result["replaces"] = replaced
        write_atomic(os.path.join(bundle, EVAL_JSON), json.dumps(result, indent=1) + "\n")

        if len(provenance) == 1:
            shutil.copyfile(provenance[0], os.path.join(bundle, PROVENANCE))
        else:
            parts = []
            for path in provenance:
                with open(path) as f:
                    parts.append(f"<!-- copied from {path} -->\n\n{f.read().rstrip()}\n")
            write_atomic(os.path.join(bundle, PROVENANCE), "\n---\n\n".join(parts))

        codec = Codec.load(bundle)
        stats = run_statistics(workdir, run_config, saved_step)
        sizes = {"params": os.path.getsize(os.path.join(bundle, "params.safetensors")),
                 "params_dtype": dtype, "total": bundle_size(bundle)}
        for _ in range(2):  # the second time with the card's own size in the total
            card = model_card(name, manifest, run_config, codec.parameter_counts(),
                              codec.bitrates, training, stats, sources, provenance, eval_data,
                              result, effect, sizes)
            write_atomic(os.path.join(bundle, CARD), card)
            sizes["total"] = bundle_size(bundle)
        _check_size(bundle, 0, limit, dtype)
        for f in os.listdir(bundle):  # safetensors writes 0600: readable like package files
            os.chmod(os.path.join(bundle, f), 0o644)
        if os.path.exists(dest):
            shutil.rmtree(dest)
        os.replace(bundle, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"path": dest, "manifest": manifest, "sizes": sizes, "eval": result,
            "float16_effect": effect, "replaces": replaced, "training": training,
            "statistics": stats}


def _check_size(bundle: str, extra: int, limit: float | None, dtype: str) -> None:
    size = bundle_size(bundle) + extra
    if limit is not None and size > limit:
        files = ", ".join(f"{f} {_mb(os.path.getsize(os.path.join(bundle, f)))}"
                          for f in sorted(os.listdir(bundle)))
        raise ValueError(f"the bundle would be {_mb(size)} with parameters as {dtype}, over the "
                         f"{_mb(int(limit))} limit ({files}); pass --params-dtype float16, or "
                         "--max-mb to allow it")
