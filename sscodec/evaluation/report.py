"""`sscodec report SWEEP_DIR`: rate-quality curves (PNG) and the paper's table for a sweep.

Reads what `sscodec sweep run` wrote (collecting it into results.json first) and writes

  rate_quality_METRIC.png   metric vs achieved kbps, one panel per category, one line per model
                            (and denoise setting) and per baseline, 95% CI error bars
  report.md                 the sweep's table in the paper's layout beside the paper's numbers,
                            the scale and budget it ran at and the wall time of each point, the
                            paper's claims each with a verdict (agrees / disagrees /
                            inconclusive) from paired differences with 95% CIs
                            (sscodec.evaluation.paper_claims), links to the plots, and every system's
                            scores per category

The table compares the sweep's table metric: ViSQOL in audio mode (48 kHz, our reading of the
paper's unstated mode) at paper scale, ViSQOL in speech mode on the CPU scale's speech.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

from sscodec.evaluation.eval_table import CATEGORY_ORDER, METRIC_LABELS, cell, summary_table
from sscodec.evaluation.paper_claims import check_claims, claims_markdown
from sscodec.evaluation.sweep_runs import gather, point_dir

TABLE_METRIC = "visqol_audio"
PAPER_KEYS = {"visqol": "ViSQOL", "params": "#params", "rtf_enc": "RTF enc", "rtf_dec": "RTF dec"}


def _entries(results: dict) -> list[dict]:
    """Every summary entry of every point and of the baselines."""
    entries = []
    for name, result in results["points"].items():
        entries += result["summary"]
    if results.get("baselines"):
        entries += results["baselines"]["summary"]
    return entries


def _find(entries, system: str, kbps: float, category: str) -> dict | None:
    for e in entries:
        if e["system"] == system and abs(e["kbps"] - kbps) < 1e-6 and e["category"] == category:
            return e
    return None


def _metric(results: dict) -> str:
    return results["sweep"].get("table_metric", TABLE_METRIC)


def point_timing(sweep_dir: str, name: str) -> dict | None:
    """A point's wall time here: timing.json (training + evaluation seconds and the machine,
    written by `sweep run`), else from its run's config.json to its eval.json (file times). A
    timing.json whose training clock was corrected by hand (a run paused or sharing the cores)
    carries a "note" saying how; it is returned with the seconds."""
    where = point_dir(sweep_dir, name)
    timing = os.path.join(where, "timing.json")
    if os.path.isfile(timing):
        with open(timing) as f:
            timing = json.load(f)
        return {"seconds": timing["train_s"] + timing["eval_s"], "machine": timing.get("machine"),
                "note": timing.get("note")}
    start, end = os.path.join(where, "run", "config.json"), os.path.join(where, "eval", "eval.json")
    if os.path.isfile(start) and os.path.isfile(end):
        return {"seconds": max(0.0, os.path.getmtime(end) - os.path.getmtime(start)),
                "machine": None, "note": None}
    return None


def wall_time_line(sweep_dir: str, results: dict) -> str:
    """"Wall time here (AMD EPYC, 2 cores): a 9.8 min, b 10.1 min (total 0.33 h)", each
    corrected time marked with a footnote that quotes its note."""
    times = {n: point_timing(sweep_dir, n) for n in results["points"]}
    times = {n: t for n, t in times.items() if t is not None}
    if not times:
        return ""
    machine = next((t["machine"] for t in times.values() if t["machine"]), None)
    notes = [n for n, t in times.items() if t.get("note")]
    mark = {n: f" [{i + 1}]" for i, n in enumerate(notes)}
    line = ("Wall time here" + (f" ({machine})" if machine else "") + ": "
            + ", ".join(f"{n} {t['seconds'] / 60:.1f} min{mark.get(n, '')}"
                        for n, t in times.items())
            + f" (total {sum(t['seconds'] for t in times.values()) / 3600:.2f} h).")
    return "\n\n".join([line] + [f"{mark[n].strip()} {n}: {times[n]['note']}." for n in notes])


def rate_table(results: dict, metric: str | None = None) -> str:
    """Rows = bitrates, one column per system (paper Fig. 7c / Fig. 8 read as a table)."""
    sweep = results["sweep"]
    metric = metric or _metric(results)
    category = sweep["table_category"]
    entries = [e for e in _entries(results) if e["category"] == category]
    systems = list(dict.fromkeys(e["system"] for e in entries if e["system"] != "codec2"))
    rates = sorted({e["kbps"] for e in entries if e["system"] != "codec2"})
    lines = ["| kbps | " + " | ".join(systems) + " |", "|" + "---|" * (len(systems) + 1)]
    for rate in rates:
        cells = [cell((_find(entries, s, rate, category) or {}).get(metric)) for s in systems]
        lines.append(f"| {rate:g} | " + " | ".join(cells) + " |")
    codec2 = _find(entries, "codec2", 3.2, category)
    if codec2:
        lines.append(f"\ncodec2 at 3.2 kbps: {cell(codec2.get(metric))}.")
    return "\n".join(lines)


def _ours(key: str, result: dict, entry: dict | None, metric: str) -> str:
    if key == "params":
        return f"{result['model']['parameters']['total'] / 1e6:.2f} M"
    if key in ("rtf_enc", "rtf_dec"):
        speed = result.get("speed") or {}
        value = speed.get("encode_rtf" if key == "rtf_enc" else "decode_rtf")
        return "–" if value is None else f"{value:.1f}x"
    return cell((entry or {}).get(metric))


def point_table(results: dict, metric: str | None = None) -> str:
    """One row per point: its label columns, then paper and ours side by side (Tables I and II)."""
    sweep = results["sweep"]
    metric = metric or _metric(results)
    kbps, category = sweep["table_kbps"], sweep["table_category"]
    labels = list(dict.fromkeys(k for p in sweep["points"] for k in p["label"]))
    keys = list(dict.fromkeys(k for p in sweep["points"] for k in p["paper"])) or ["visqol"]
    head = labels + [f"{side} {PAPER_KEYS.get(k, k)}" for k in keys for side in ("paper", "ours")]
    lines = ["| point | " + " | ".join(head) + " |", "|" + "---|" * (len(head) + 1)]
    for point in sweep["points"]:
        result = results["points"].get(point["name"])
        entry = _find(result["summary"], point["name"], kbps, category) if result else None
        cells = [str(point["label"].get(k, "")) for k in labels]
        for k in keys:
            cells += [str(point["paper"].get(k, "–")),
                      _ours(k, result, entry, metric) if result else "not run"]
        lines.append(f"| {point['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_rate_quality(results: dict, metric: str, path: str) -> bool:
    """Draws metric vs achieved kbps; False when no system has the metric."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [e for e in _entries(results) if e.get(metric) and e[metric]["mean"] is not None]
    categories = sorted({e["category"] for e in entries}, key=CATEGORY_ORDER.index)
    if not entries:
        return False
    if len(categories) == 2 and "all" in categories:  # "all" is then the other one again
        categories.remove("all")
    fig, axes = plt.subplots(1, len(categories), figsize=(4.2 * len(categories), 3.6),
                             squeeze=False, sharey=True)
    for ax, category in zip(axes[0], categories):
        for system in dict.fromkeys(e["system"] for e in entries):
            pts = sorted((e["kbps_actual"], e[metric]["mean"], e[metric]["ci95"])
                         for e in entries if e["system"] == system and e["category"] == category)
            if not pts:
                continue
            x, y, err = zip(*pts)
            err = [e or 0.0 for e in err]
            style = {"linestyle": "--"} if system in ("Opus", "codec2") else {}
            ax.errorbar(x, y, yerr=err, marker="o", markersize=4, capsize=2, label=system, **style)
        ax.set_title(category.replace("_", " "))
        ax.set_xlabel("kbps (achieved)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(METRIC_LABELS.get(metric, metric))
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{results['sweep']['title']}: {METRIC_LABELS.get(metric, metric)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_report(sweep_dir: str, metrics: Sequence[str] | None = None) -> list[str]:
    """Collects the sweep, draws a PNG per metric and writes report.md; returns the paths."""
    results = gather(sweep_dir)
    sweep = results["sweep"]
    if not sweep.get("final_eval", True):  # scored by training-time validation
        if not results["points"]:
            raise FileNotFoundError(f"{sweep_dir}: no point has finished yet")
        from sscodec.evaluation.recipe_report import write_recipe_report
        return write_recipe_report(sweep_dir, results, metrics)
    if not results["points"] and not results.get("baselines"):
        raise FileNotFoundError(f"{sweep_dir}: no point has been evaluated yet")
    written = []
    pngs = []
    table_metric = _metric(results)
    for metric in metrics or (table_metric, "visqol_speech", "pesq"):
        path = os.path.join(sweep_dir, f"rate_quality_{metric}.png")
        if plot_rate_quality(results, metric, path):
            written.append(path)
            pngs.append(os.path.basename(path))
    table = point_table(results) if sweep["layout"] == "by_point" else rate_table(results)
    parts = [f"# {sweep['title']}", ""]
    if sweep.get("smoke") or sweep.get("steps"):
        parts += [f"**Shortened run** (smoke: {sweep['smoke']}, steps: {sweep['steps']}): the "
                  "numbers check the machinery, not the paper.", ""]
    scale = sweep.get("scale", "paper")
    parts += [f"Scale: **{scale}**" + (f"; each point trained {sweep['budget']}" if sweep.get(
        "budget") else "") + f"; scored on `{sweep['eval'].get('data', 'embedded')}`"
              + (f" with noise from `{sweep['eval']['noise']}`" if sweep["eval"].get("noise")
                 else "") + ".", ""]
    wall = wall_time_line(sweep_dir, results)
    if wall:
        parts += [wall, ""]
    entries = _entries(results)
    real = sorted({e["category"] for e in entries} - {"all"}, key=CATEGORY_ORDER.index)
    shown = sweep["table_category"]
    if shown == "all" and len(real) == 1:  # "all" is then that one category
        shown = real[0]
    parts += [f"{METRIC_LABELS[table_metric]} (mean ± 95% CI) on {shown.replace('_', ' ')} clips"
              + (f" at {sweep['table_kbps']:g} kbps" if sweep["layout"] == "by_point" else "")
              + ".", "", table, ""]
    if sweep.get("paper_note"):
        parts += [f"Paper: {sweep['paper_note']}", ""]
    claims = claims_markdown(check_claims(results))
    if claims:
        parts += [claims, ""]
    if results["missing"]:
        parts += [f"Not evaluated yet: {', '.join(results['missing'])}.", ""]
    parts += [f"![{p}]({p})" for p in pngs]
    metric_names = next(iter(results["points"].values()), results.get("baselines"))[
        "settings"]["metrics"]
    for category in (real if len(real) == 1 else ["all"] + real):
        parts += ["", f"## {category.replace('_', ' ')}", "",
                  summary_table([e for e in entries if e["category"] == category], metric_names)]
    path = os.path.join(sweep_dir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return written + [path]
