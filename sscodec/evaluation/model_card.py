"""The model card and the figures it states: the MODEL_CARD.md that `sscodec ship` writes beside a
shipped bundle (architecture, bitrates, training, data and licences, the eval table), the paired
effects it reports (float16 against float32, a replaced model against its replacement), and the
provenance excerpt it quotes."""

from __future__ import annotations

import datetime
import os
from typing import Sequence

from sscodec import pretrained

PROVENANCE = "PROVENANCE.md"
CATEGORY = "clean_speech"
BASELINE_LABELS = {"opus": "Opus", "codec2": "codec2"}
_LONG_SECTION = 40  # provenance sections longer than this (lines) stay in PROVENANCE.md only


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


def paired_effect(result_a: dict, result_b: dict, metric_names: Sequence[str],
                  keys: tuple[str, str] = ("a", "b")) -> list[dict]:
    """Per bitrate and metric, model A's scores against model B's on the clips both were scored
    on (each result is an eval.json of its own model): both means, under `keys`, and the paired
    difference (A - B, mean ± 95% CI)."""
    from sscodec.evaluation.eval_table import mean_ci

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
    from sscodec.evaluation.eval_table import summary_table
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
    channels = _channel_words(manifest.get("channels", 1))
    lines = [
        f"# {name}",
        "",
        f"A SoundStream {what} codec for {manifest['sample_rate'] // 1000} kHz {channels} audio at "
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
        f"| audio | {manifest['sample_rate']} Hz {channels}, frames of {manifest['frame_size']} samples "
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
        f"- {manifest['sample_rate']} Hz {channels}: other rates are resampled, "
        + ("stereo is mixed down." if channels == "mono" else
           "mono input is copied into every channel, other channel counts are refused."),
        "",
        f"Shipped by `sscodec ship` on {_date(datetime.datetime.now().timestamp())} from "
        f"checkpoint step {stats['step']}.",
    ]
    return "\n".join(lines) + "\n"


def _channel_words(count: int) -> str:
    return {1: "mono", 2: "stereo"}.get(count, f"{count}-channel")


def _score(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}" if abs(value) < 1 \
        else f"{value:.2f}"


def _paired_table(rows: list[dict], metrics: Sequence[str], cell) -> list[str]:
    """A Markdown table of paired comparisons: a row per bitrate, `cell(stat)` per metric."""
    from sscodec.evaluation.eval_table import METRIC_LABELS
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
