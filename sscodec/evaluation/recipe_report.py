"""The report of a sweep scored by training-time validation (`final_eval=False`, the recipe sweep).

`sscodec report DIR` calls `write_recipe_report` for such a sweep. It writes

  report.md                 one row per point: its change, the steps and audio-seconds/s it
                            reached on the budget, the last validation at each bitrate, the
                            change against the first row (the paper's recipe) at `table_kbps`
                            (from the last validation and from the mean of the last three),
                            and the codebook perplexity per quantizer; a point whose result
                            says `recovered_from` (its run folder lost) is marked † and named
  recipe_METRIC.png         each point's validation METRIC at `table_kbps` against its training
                            time (the budget's clock), one line per point
"""

from __future__ import annotations

import os

from sscodec.evaluation.eval_table import METRIC_LABELS

LOWER_IS_BETTER = {"mel"}
RECENT = 3  # validations averaged in the steadier Δ columns
LABELS = {**METRIC_LABELS, "mel": "mel dist. ↓"}


def _rates(results: dict) -> list[float]:
    keys = {k for r in results["points"].values() for k in r["final"] if "@" in k}
    return sorted({float(k.split("@")[1][:-len("kbps")]) for k in keys})


def _value(result: dict | None, metric: str, kbps: float) -> float | None:
    return None if result is None else result["final"].get(f"{metric}@{kbps:g}kbps")


def _recent_mean(result: dict | None, metric: str, kbps: float, n: int = RECENT) -> float | None:
    """The mean of the last `n` validations (one validation moves ViSQOL by about ±0.05)."""
    key = f"{metric}@{kbps:g}kbps"
    values = [c[key] for c in (result or {}).get("curve", []) if c.get(key) is not None][-n:]
    return sum(values) / len(values) if len(values) == n else None


def _delta(ours: float | None, ref: float | None) -> str:
    return "–" if ours is None or ref is None else f"{ours - ref:+.2f}"


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if metric == "mel" else f"{value:.2f}"


def recipe_table(results: dict) -> str:
    """Markdown: one row per point, the first point the reference of the Δ columns."""
    sweep = results["sweep"]
    kbps, metrics = sweep["table_kbps"], list(sweep.get("table_metrics") or ("visqol_speech",
                                                                             "pesq"))
    rates = _rates(results)
    reference = results["points"].get(sweep["points"][0]["name"])
    clock = next(iter(results["points"].values())).get("clock", "wall")
    head = (["point", "change", "from", "steps",
             f"audio s per {'CPU-' if clock == 'cpu' else ''}s"]
            + [f"{LABELS.get(m, m)} @ {', '.join(f'{r:g}' for r in rates)} kbps"
               for m in metrics + ["mel"]]
            + [f"Δ {LABELS.get(m, m)} @ {kbps:g}" for m in metrics]
            + [f"Δ {LABELS.get(m, m)} @ {kbps:g}, last {RECENT}" for m in metrics]
            + ["perplexity per quantizer"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for point in sweep["points"]:
        result = results["points"].get(point["name"])
        label = point["label"]
        if result is None:
            lines.append(f"| {point['name']} | {label.get('change', '')} | {label.get('from', '')}"
                         " | not run" + " | –" * (len(head) - 4) + " |")
            continue
        name = point["name"] + (" †" if result.get("recovered_from") else "")
        cells = [name, label.get("change", ""), label.get("from", ""),
                 f"{result['steps']:,}", _fmt(result.get("audio_s_per_budget_s"), "")]
        cells += [" / ".join(_fmt(_value(result, m, r), m) for r in rates)
                  for m in metrics + ["mel"]]
        cells += [_delta(_value(result, m, kbps), _value(reference, m, kbps)) for m in metrics]
        cells += [_delta(_recent_mean(result, m, kbps), _recent_mean(reference, m, kbps))
                  for m in metrics]
        cells.append(" ".join(f"{p:.0f}" for p in result["perplexity"])
                     + f" (of {result['codebook_size']:,})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(results: dict, metric: str, path: str) -> bool:
    """METRIC at table_kbps against training seconds, one line per point; False if no data."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kbps = results["sweep"]["table_kbps"]
    key = f"{metric}@{kbps:g}kbps"
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    drawn = False
    for name, result in results["points"].items():
        pts = [(c["train_seconds"] / 60.0, c[key]) for c in result["curve"]
               if c.get(key) is not None and c.get("train_seconds") is not None]
        if pts:
            x, y = zip(*pts)
            style = {"linewidth": 2.5, "color": "black"} if name == results["sweep"]["points"][0][
                "name"] else {}
            ax.plot(x, y, marker="o", markersize=3, label=name, **style)
            drawn = True
    if not drawn:
        plt.close(fig)
        return False
    clock = next(iter(results["points"].values())).get("clock", "wall")
    ax.set_xlabel(f"training time ({'CPU-' if clock == 'cpu' else ''}minutes)")
    ax.set_ylabel(f"{LABELS.get(metric, metric)} @ {kbps:g} kbps")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(results["sweep"]["title"], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_recipe_report(sweep_dir: str, results: dict, metrics=None) -> list[str]:
    """Writes report.md and one curve per metric into `sweep_dir`; returns the paths."""
    sweep = results["sweep"]
    # The table's metrics and the mel distance, then any other asked for (drawn if validated).
    metrics = list(dict.fromkeys([*(sweep.get("table_metrics") or ()), "mel", *(metrics or ())]))
    written, pngs = [], []
    for metric in metrics:
        path = os.path.join(sweep_dir, f"recipe_{metric}.png")
        if plot_curves(results, metric, path):
            written.append(path)
            pngs.append(os.path.basename(path))
    first = sweep["points"][0]["name"]
    parts = [f"# {sweep['title']}", "",
             "Each point's last training-time validation on the held-out clips (mean over "
             f"clips). Δ columns: against `{first}` at {sweep['table_kbps']:g} kbps, from the "
             f"last validation and from the mean of the last {RECENT} (steadier: one validation "
             "moves ViSQOL by about ±0.05). Perplexity: exp(entropy) of each quantizer's code "
             "histogram over the last fifth of the run.",
             "", recipe_table(results), ""]
    # The budget is CPU time, so a step count (and the quality it buys) holds for one CPU model.
    machines = sorted({r["machine"] for r in results["points"].values() if r.get("machine")})
    if machines:
        parts += [f"Measured on: {'; '.join(machines)}. Compare rows measured on one machine: "
                  "the same CPU-seconds buy a different number of steps on another CPU.", ""]
    if sweep.get("smoke") or sweep.get("steps"):
        parts += [f"**Shortened run** (smoke: {sweep['smoke']}, steps: {sweep['steps']}): the "
                  "numbers check the machinery, not the recipe.", ""]
    if sweep.get("paper_note"):
        parts += [sweep["paper_note"], ""]
    # A result kept when its run folder was lost says so, and where it came from.
    sources: dict[str, list[str]] = {}
    for name, result in results["points"].items():
        if result.get("recovered_from"):
            sources.setdefault(result["recovered_from"], []).append(name)
    for source, names in sources.items():
        parts += [f"† {', '.join(names)}: recovered from {source}.", ""]
    if results["missing"]:
        parts += [f"Not run yet: {', '.join(results['missing'])}.", ""]
    parts += [f"![{p}]({p})" for p in pngs]
    path = os.path.join(sweep_dir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")
    return written + [path]
