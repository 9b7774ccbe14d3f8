"""Summaries of evaluation rows: means with 95% confidence intervals, and their Markdown tables."""

from __future__ import annotations

import math
from typing import Sequence

METRIC_LABELS = {
    "visqol_audio": "ViSQOL audio",
    "visqol_speech": "ViSQOL speech",
    "pesq": "PESQ-WB",
    "stoi": "STOI",
    "si_sdr": "SI-SDR (dB)",
    "mel_distance": "mel dist. ↓",
}
CATEGORY_ORDER = ("all", "clean_speech", "noisy_speech", "music", "audio")


def metric_label(name: str) -> str:
    """A column title: METRIC_LABELS', with a per-channel view's name after it ("ViSQOL audio
    side" for visqol_audio_side)."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    base, _, view = name.rpartition("_")
    return f"{METRIC_LABELS[base]} {view}" if base in METRIC_LABELS else name


def mean_ci(values: Sequence[float]) -> dict:
    """Mean, 95% confidence half-width (normal approximation) and count of the non-None values."""
    values = [v for v in values if v is not None]
    n = len(values)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = sum(values) / n
    if n == 1:
        return {"mean": mean, "ci95": None, "n": 1}  # one value gives no interval
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return {"mean": mean, "ci95": 1.96 * math.sqrt(var / n), "n": n}


def summarize(rows: Sequence[dict], metric_names: Sequence[str]) -> list[dict]:
    """One entry per (system, kbps, category), plus category "all" over every clip."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        for category in ("all", row["category"]):
            groups.setdefault((row["system"], row["kbps"], category), []).append(row)
    summary = []
    for (system, kbps, category), members in groups.items():
        entry = {"system": system, "kbps": kbps, "category": category, "clips": len(members),
                 "kbps_actual": mean_ci([r["kbps_actual"] for r in members])["mean"]}
        for m in metric_names:
            entry[m] = mean_ci([r.get(m) for r in members])
        summary.append(entry)
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    summary.sort(key=lambda e: (order.get(e["category"], 99), e["system"], e["kbps"]))
    return summary


def cell(stat: dict | None, digits: int = 2) -> str:
    if not stat or stat["mean"] is None:
        return "–"
    if stat["ci95"] is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['ci95']:.{digits}f}"


def summary_table(entries: Sequence[dict], metric_names: Sequence[str]) -> str:
    """A Markdown table: one row per system point, one column per metric (mean ± 95% CI)."""
    metric_names = [m for m in metric_names
                    if any(e.get(m) and e[m]["mean"] is not None for e in entries)]
    head = ["system", "kbps", "kbps actual", "clips"] + [metric_label(m) for m in metric_names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        cells = [e["system"], f"{e['kbps']:g}", f"{e['kbps_actual']:.2f}", str(e["clips"])]
        cells += [cell(e[m], 3 if m == "stoi" else 2) for m in metric_names]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_markdown(result: dict) -> str:
    """`eval.md`: one table per category, then the model's speed and any skipped items."""
    model = result.get("model") or {}
    metric_names = result["settings"]["metrics"]
    settings = result["settings"]
    parts = ["# Evaluation" + (f": {model['name']}" if model else ""), ""]
    if model:
        parts.append(f"Model `{model['bundle']}` (step {model['step']}, sha256 "
                     f"{model['sha256'][:12]}, {model['parameters']['total']:,} parameters).")
    parts.append(f"Data `{settings['data']}`: {len(result['clips'])} clips of up to "
                 f"{settings['clip_seconds']:g} s. Mean ± 95% CI; noisy speech is scored against "
                 "the clean speech. kbps actual: stream size (the model's .ssc, Opus' Ogg file) "
                 "over duration.")
    categories = sorted({e["category"] for e in result["summary"]},
                        key=lambda c: CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else 99)
    channels = result.get("channels", 1)
    if channels > 1:
        parts.append(f"{channels} channels: each score is the mean over the channels; the "
                     "second table scores each channel" + (" and the mid (L + R) / 2 and side "
                                                           "(L - R) / 2 signals" if channels == 2
                                                           else "") + " (a side of silence, "
                     "as from a mono file, has no scores). Baselines code the mono mix.")
    from sscodec.quality.metrics import view_names
    for category in categories:
        entries = [e for e in result["summary"] if e["category"] == category]
        parts += ["", f"## {category.replace('_', ' ')}", "", summary_table(entries, metric_names)]
        if channels > 1:
            parts += ["", summary_table(entries, view_names(metric_names, channels))]
    speed = result.get("speed")
    if speed:
        parts += ["", f"Speed: encode {speed['encode_rtf']:.1f}x, decode {speed['decode_rtf']:.1f}x "
                  f"real time ({speed['seconds']:g} s of audio, this machine, all threads)."]
    if result.get("skipped"):
        parts += ["", f"Skipped {len(result['skipped'])} items:"]
        parts += [f"- {s['item']}: {s['reason']}" for s in result["skipped"]]
    return "\n".join(parts)
