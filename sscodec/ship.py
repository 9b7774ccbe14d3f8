"""`sscodec ship`: a finished training run -> a named model shipped in the package.

  sscodec ship --workdir runs/speech_cpu --name speech_cpu_24khz --eval-data data/asterisk/eval \
      --config experiments/speech_cpu_24khz.py

exports the run's checkpoint (sscodec.export), scores it and the codec2 / Opus baselines on the
held-out clean speech (sscodec.evaluate), and writes the bundle to OUT/NAME (default
sscodec/pretrained/NAME, where `Codec.load(NAME)` finds it) with:

  the `sscodec export` files  params.safetensors, config.json, manifest.json (with "name"),
                              entropy tables, the StableHLO encoder / decoder
  MODEL_CARD.md   name, architecture and parameters, bitrates, the config file and overrides,
                  steps, time and audio seen, the data and its licences, the eval table
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

import datetime
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

log = logging.getLogger(__name__)

PROVENANCE = "PROVENANCE.md"
CARD = "MODEL_CARD.md"
EVAL_JSON = "eval.json"
CATEGORY = "clean_speech"
DEFAULT_KBPS = (1.5, 3.0, 6.0)
DEFAULT_OPUS_KBPS = (6.0, 9.0, 12.0)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE_LABELS = {"opus": "Opus", "codec2": "codec2"}
_LONG_SECTION = 40  # provenance sections longer than this (lines) stay in PROVENANCE.md only


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
    from data_pipelines.specs import mixture
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


def provenance_excerpt(text: str, shipped_as: str = PROVENANCE) -> str:
    """A provenance file for the model card: headings two levels down, and sections longer than
    _LONG_SECTION lines (file lists) replaced by a pointer to the full file."""
    out, section, fenced = [], [], False

    def flush():
        if len(section) > _LONG_SECTION:
            out.extend([section[0], "", f"({len(section) - 1} lines: see {shipped_as})", ""])
        else:
            out.extend(section)

    for line in text.rstrip().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if line.startswith("#") and not fenced:
            flush()
            section = ["##" + line]
        else:
            section.append(line)
    flush()
    return "\n".join(out).strip()


# ---------------------------------------------------------------------------- the card


def _same_data(a: str, b: str) -> bool:
    def where(spec):
        return "embedded" if spec in ("", "embedded") else os.path.realpath(spec)
    return where(a) == where(b)


def _schedule(optim: dict) -> str:
    """The learning-rate schedule in words ("" for the paper's constant rate, no warm-up)."""
    kind, warmup = optim.get("lr_schedule", "constant"), optim.get("warmup_steps", 0)
    words = f", {warmup} warm-up steps" if warmup else ""
    if kind == "cosine":
        words += f", cosine decay to {optim.get('final_lr_fraction', 0.1):g}x at the last step"
    return words


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "not recorded"
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _date(timestamp: float | None) -> str:
    if timestamp is None:
        return "?"
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def bundle_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


def paired_effect(result_a: dict, result_b: dict, metric_names: Sequence[str],
                  keys: tuple[str, str] = ("a", "b")) -> list[dict]:
    """Per bitrate and metric, model A's scores against model B's on the clips both were scored
    on (each result is an eval.json of its own model): both means, under `keys`, and the paired
    difference (A - B, mean ± 95% CI)."""
    from sscodec.eval_table import mean_ci

    def scores(result):
        name = result["model"]["name"]
        return {(r["kbps"], r["clip"]): r for r in result["rows"]
                if r["system"] == name and r["category"] == CATEGORY}
    a, b = scores(result_a), scores(result_b)
    rows = []
    for kbps in sorted({k for k, _ in a} & {k for k, _ in b}):
        pairs = [(a[key], b[key]) for key in a if key[0] == kbps and key in b]
        row = {"kbps": kbps, "clips": len(pairs)}
        for m in metric_names:
            diffs = [x[m] - y[m] for x, y in pairs if x.get(m) is not None
                     and y.get(m) is not None]
            row[m] = {keys[0]: mean_ci([x.get(m) for x, _ in pairs])["mean"],
                      keys[1]: mean_ci([y.get(m) for _, y in pairs])["mean"],
                      "difference": mean_ci(diffs)["mean"], "ci95": mean_ci(diffs)["ci95"]}
        rows.append(row)
    return rows


def float16_effect(result16: dict, result32: dict, metric_names: Sequence[str]) -> list[dict]:
    """The float16 bundle's scores against the float32 bundle's on the same clips."""
    return paired_effect(result16, result32, metric_names, ("float16", "float32"))


# What must match for two evaluations' clean-speech clips of one name to be the same audio (the
# seed and the count only choose which items are clipped; the pairing is by clip name).
SAME_CLIPS = ("data", "clip_seconds")


def replacement_effect(result: dict, replaced: dict | None,
                       metric_names: Sequence[str]) -> dict | None:
    """The new model's scores against those of the bundle it replaces (its eval.json), paired
    on the clips both were scored on; None when there is no earlier evaluation to compare with.
    Evaluations of other audio (other data or clip length) give {"reason": ...}."""
    if not replaced or "rows" not in replaced:
        return None
    old = {"sha256": replaced.get("model", {}).get("sha256"),
           "step": replaced.get("model", {}).get("step")}
    differ = [k for k in SAME_CLIPS
              if replaced.get("settings", {}).get(k) != result["settings"].get(k)]
    if differ:
        return {**old, "reason": "evaluated on other clips (" + ", ".join(
            f"{k} {replaced['settings'].get(k)!r}" for k in differ) + ")"}
    shared = [m for m in metric_names if m in replaced["settings"].get("metrics", [])]
    rows = paired_effect(result, replaced, shared, ("new", "old"))
    if not rows:
        return {**old, "reason": "no clip scored by both at one bitrate"}
    return {**old, "rows": rows, "metrics": shared}


def _difference(stat: dict) -> str:
    if stat["difference"] is None:
        return "–"
    ci = f" ± {stat['ci95']:.4f}" if stat["ci95"] is not None else ""
    return f"{stat['difference']:+.4f}{ci}"


def _architecture_words(model: dict) -> str:
    """The generator's encoder and decoder kinds, for the model card (bundles from before
    model.decoder existed have the SEANet decoder)."""
    if model.get("decoder", "seanet") == "istft":
        return (f"SEANet encoder, frame-rate inverse-STFT decoder (FFT size "
                f"{model.get('istft_overlap', 2)} x the hop)")
    return "SEANet encoder and decoder"


def _dropout_words(q: dict) -> str:
    """'on', 'off' or 'on for N% of examples' (quantizer.dropout_share; older runs lack it)."""
    share = q.get("dropout_share", 1.0)
    if not q["dropout"]:
        return "off"
    return "on" if share >= 1.0 else f"on for {100 * share:.0f}% of examples"


def model_card(name: str, manifest: dict, run_config: dict, parameters: dict, bitrates: list,
               training: dict, stats: dict, sources: list[dict], provenance: list[str],
               eval_data: str, result: dict, effect: list[dict] | None, sizes: dict) -> str:
    from sscodec.eval_table import summary_table
    m, q, loss = run_config["model"], run_config["quantizer"], run_config["loss"]
    frame_rate = manifest["sample_rate"] / manifest["frame_size"]
    rates = ", ".join(f"{r:g}" for r in bitrates)
    adversarial = (f"from step {loss['adversarial_start_step']}"
                   if loss["adversarial_start_step"] < run_config["num_steps"]
                   else "never: reconstruction loss only")
    kinds = sorted({k for source in sources for k in source["kinds"]})
    what = "speech" if kinds == ["speech"] else "audio"
    middle = bitrates[len(bitrates) // 2]
    codebooks = q["num_quantizers"] * q["codebook_size"] * m["embedding_dim"]
    film = {"none": "no", "encoder": "at the encoder", "decoder": "at the decoder"}.get(
        m["film"], m["film"])
    lines = [
        f"# {name}",
        "",
        f"A SoundStream {what} codec for {manifest['sample_rate'] // 1000} kHz mono audio at "
        f"{rates} kbps, trained with sscodec. "
        + ("It is the default model of `sscodec compress` / `decompress`."
           if name == pretrained.DEFAULT_MODEL else ""),
        "",
        "```sh",
        f"sscodec compress speech.wav speech.ssc --model {name} --kbps {middle:g}",
        f"sscodec decompress speech.ssc decoded.wav --model {name}",
        "```",
        "",
        f"In Python: `Codec.load(\"{name}\")` (`from sscodec import Codec`).",
        "",
        "| | |",
        "|---|---|",
        f"| model hash | `{manifest['sha256']}` (an `.ssc` stream carries its first 16 bytes; "
        "another model refuses it) |",
        f"| bitrates | {rates} kbps: n_q = 1..{manifest['num_quantizers']} quantizers of "
        f"{manifest['codebook_size']} codes at {frame_rate:g} frames/s |",
        f"| audio | {manifest['sample_rate']} Hz mono, frames of {manifest['frame_size']} samples "
        f"({1000 * manifest['frame_size'] / manifest['sample_rate']:.1f} ms algorithmic latency), "
        "causal: offline and streaming |",
        f"| architecture | {_architecture_words(m)} (C_enc = {m['encoder_channels']}, C_dec = "
        f"{m['decoder_channels']}, strides {tuple(m['strides'])}, residual dilations "
        f"{tuple(m['residual_dilations'])}, weight norm {'on' if m['weight_norm'] else 'off'}), "
        f"D = {m['embedding_dim']}, residual VQ {q['num_quantizers']} x {q['codebook_size']} "
        f"(quantizer dropout {_dropout_words(q)}), FiLM denoising: {film} |",
        f"| parameters | {parameters['total'] / 1e6:.3f} M (encoder "
        f"{parameters['encoder'] / 1e6:.3f} M, decoder {parameters['decoder'] / 1e6:.3f} M"
        + (f", FiLM {parameters['film_layer'] / 1e6:.3f} M" if parameters.get("film_layer") else "")
        + f") + codebooks {codebooks / 1e6:.3f} M |",
        f"| bundle | {_mb(sizes['total'])} (params.safetensors {_mb(sizes['params'])}, "
        f"{sizes['params_dtype']}) |",
        "",
        "## Training",
        "",
    ]
    if training["file"]:
        how = " (inferred: the closest experiment file; the run does not record it)" \
            if training["inferred"] else ""
        overrides = " ".join(f"`{o}`" for o in training["overrides"]) or "none"
        lines.append(f"- config: `{training['file']}`{how}, overrides: {overrides}; the resolved "
                     "config is this bundle's config.json")
    else:
        lines.append("- config: the bundle's config.json (the experiment file is not known)")
    steps = f"{stats['step']:,} steps" + (
        f" of {stats['num_steps']:,}" if stats["step"] != stats["num_steps"] else "")
    lines += [
        f"- {steps}, batch {stats['batch_size']} x {stats['crop_seconds']:.3g} s crops: "
        f"{stats['audio_seconds']:,.0f} audio-seconds seen ({_hours(stats['audio_seconds'])})",
        f"- time: {_hours(stats['train_seconds'] + stats['eval_seconds'])} of training steps and "
        f"validation ({_hours(stats['eval_seconds'])} of it validation; from metrics.jsonl); "
        f"wall clock {_hours(stats['wall_seconds'])} from the first session's start "
        f"({_date(stats['started'])}) to this checkpoint ({_date(stats['finished'])}), "
        f"{stats['sessions']} session(s)",
        f"- adversarial training: {adversarial}",
        f"- optimizer: Adam (b1 {run_config['optim']['b1']}, b2 {run_config['optim']['b2']}), "
        f"generator lr {run_config['optim']['generator_lr']:g}" + _schedule(run_config['optim']),
    ]
    last = stats["last_metrics"]
    if last:
        keys = [k for k in ("loss/reconstruction", "loss/generator", "rvq/codebook_usage")
                if k in last]
        lines.append("- at this checkpoint: " + ", ".join(f"{k} {last[k]:.4g}" for k in keys))
    if stats["last_eval"]:
        ev = stats["last_eval"]
        lines.append(f"- last validation (step {ev['step']}): " + ", ".join(
            f"{k[len('eval/'):]} {v:.3g}" for k, v in ev.items()
            if k.startswith("eval/") and k != "eval/failed_scores"))
    lines += ["", "## Data", ""]
    for source in sources:
        lines.append(f"- training: `{source['spec']}` (kinds used: "
                     f"{', '.join(source['kinds']) or 'all'}"
                     + (f", weight {source['weight']:g}" if len(sources) > 1 else "") + ")")
    same = [s["spec"] for s in sources if _same_data(s["spec"], eval_data)]
    lines.append(f"- evaluation: `{eval_data}`, {CATEGORY.replace('_', ' ')} only"
                 + (": the training data itself, not held out" if same else
                    " (held-out material: see the split in the provenance below)"))
    lines += ["", f"Provenance and licences, copied from the data folder ({PROVENANCE} in this "
              "bundle holds the full file). The model was trained on this data: keep its "
              "attribution with the model.", ""]
    for path in provenance:
        with open(path) as f:
            lines += [provenance_excerpt(f.read()), ""]
    settings = result["settings"]
    metric_names = settings["metrics"]
    entries = [e for e in result["summary"] if e["category"] == CATEGORY]
    lines += [
        "## Evaluation",
        "",
        f"{len(result['clips'])} clips of {settings['clip_seconds']:g} s of clean speech "
        f"from `{eval_data}` (seed {settings['seed']}), this model through the entropy-coded "
        "`.ssc` path beside "
        + (" and ".join(BASELINE_LABELS.get(b, b) for b in settings["baselines"])
           or "no baselines")
        + ". Mean ± 95% CI; kbps actual is "
        "the stream's size over its duration. Full results: eval.json.",
        "",
        summary_table(entries, metric_names),
    ]
    speed = result.get("speed")
    if speed:
        lines += ["", f"Speed: encode {speed['encode_rtf']:.1f}x, decode "
                      f"{speed['decode_rtf']:.1f}x real time on the machine that shipped it."]
    if effect:
        lines += ["", "**float16 storage.** The parameters are stored as float16 to keep the "
                      "bundle small. Scores of the float16 bundle minus those of the float32 "
                      "model on the same clips (mean ± 95% CI of the paired differences):", ""]
        shown = [m for m in metric_names if any(r[m]["difference"] is not None for r in effect)]
        lines += _paired_table(effect, shown, _difference)
    lines += _replacement_lines(result.get("replaces"))
    lines += [
        "",
        "## Limitations",
        "",
        f"- Trained on {' and '.join(kinds) or 'the audio'} from the data above only; quality on "
        "other voices, languages, microphones, noise or music is not measured beyond the table.",
        f"- {manifest['sample_rate']} Hz mono: other rates are resampled, stereo is mixed down.",
        "",
        f"Shipped by `sscodec ship` on {_date(datetime.datetime.now().timestamp())} from "
        f"checkpoint step {stats['step']}.",
    ]
    return "\n".join(lines) + "\n"


def _score(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}" if abs(value) < 1 \
        else f"{value:.2f}"


def _paired_table(rows: list[dict], metrics: Sequence[str], cell) -> list[str]:
    """A Markdown table of paired comparisons: a row per bitrate, `cell(stat)` per metric."""
    from sscodec.eval_table import METRIC_LABELS
    return (["| kbps | " + " | ".join(METRIC_LABELS.get(m, m) for m in metrics) + " |",
             "|---|" + "---|" * len(metrics)]
            + [f"| {row['kbps']:g} | " + " | ".join(cell(row[m]) for m in metrics) + " |"
               for row in rows])


def _new_against_old(stat: dict) -> str:
    if stat["difference"] is None:
        return "–"
    return f"{_score(stat['new'])} vs {_score(stat['old'])}: {_difference(stat)}"


def _replacement_lines(replaced: dict | None) -> list[str]:
    """The card's comparison with the model this one replaced (see replacement_effect)."""
    if not replaced:
        return []
    which = f"`{replaced['sha256'][:12]}`" if replaced.get("sha256") else "(hash unknown)"
    if "rows" not in replaced:
        return ["", f"**Against the model it replaces** ({which}): not compared, "
                    f"{replaced['reason']}."]
    return (["", f"**Against the model it replaces** ({which}, step {replaced.get('step')}). "
                 "This model's scores, the replaced model's, and the paired difference (new - "
                 "old, mean ± 95% CI) on the same clips:", ""]
            + _paired_table(replaced["rows"], replaced["metrics"], _new_against_old))


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
    from sscodec import metrics
    from sscodec.codec import Codec
    from sscodec.evaluate import run_eval, write_atomic
    from sscodec.export import load_run, write_bundle

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
