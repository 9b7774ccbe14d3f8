"""MUSHRA-style listening tests: the blind trials of mushra.html, and the table of the ratings that
listeners download from it (`sscodec listen --collect`).

A trial is one clip: the named reference, then every coded version, the noisy input (noisy
speech), a hidden copy of the reference and a 3.5 kHz low-pass anchor (ITU-R BS.1534), in a
random order seeded by the page's seed and the clip's index, so each listener of one page hears
the same order. A ratings file is JSON:

  {"format": "sscodec-mushra/1", "listener": "ab", "page": {...},
   "trials": [{"clip": NAME, "category": CATEGORY,
               "ratings": [{"system": "Opus 6 kbps", "rating": 0..100, ...}, ...]}, ...]}
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from sscodec.evaluation.eval_table import CATEGORY_ORDER, cell, mean_ci

FORMAT = "sscodec-mushra/1"
HIDDEN_REFERENCE = "hidden reference"
ANCHOR = "anchor (3.5 kHz low-pass)"
# BS.1534-3 post-screening: a listener who rates the hidden reference below 90 in more than 15%
# of the trials is usually excluded. We report such listeners and keep them (the table's reader
# decides).
SCREEN_BELOW, SCREEN_SHARE = 90.0, 0.15


class RatingsError(ValueError):
    """A ratings file that is not what mushra.html writes."""


def trial_order(seed: int, clip_index: int, count: int) -> list[int]:
    """The hidden order of a clip's `count` conditions: a permutation seeded by (seed, clip)."""
    return [int(i) for i in np.random.default_rng([seed, clip_index]).permutation(count)]


def make_trial(clip: dict, clip_index: int, seed: int, extra: Sequence[dict]) -> dict:
    """A trial of the page's `clip` (its versions as in listen.json; the first is the
    reference): its coded versions and `extra` conditions ({"system", "audio"}: the hidden
    reference and the anchor) shuffled."""
    conditions = [{"system": v["key"], "kbps_actual": v.get("kbps_actual"), "audio": v["audio"]}
                  for v in clip["versions"][1:]]
    conditions += [{"system": e["system"], "kbps_actual": None, "audio": e["audio"]} for e in extra]
    order = trial_order(seed, clip_index, len(conditions))
    shuffled = [conditions[i] for i in order]
    return {"clip_index": clip_index, "clip": clip["name"], "category": clip["category"],
            "reference": clip["versions"][0]["audio"], "audio": [c["audio"] for c in shuffled],
            "conditions": [{"system": c["system"], "kbps_actual": c["kbps_actual"]}
                           for c in shuffled]}


# ------------------------------------------------------------------------- collecting ratings


def _fail(path: str, why: str) -> RatingsError:
    return RatingsError(f"{path}: not a ratings file from mushra.html ({why})")


def read_ratings(path: str) -> dict:
    """One listener's ratings, checked: every rating a number from 0 to 100 with a system."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise _fail(path, f"invalid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(path, f'"format" must be "{FORMAT}"')
    trials = data.get("trials")
    if not isinstance(trials, list) or not trials:
        raise _fail(path, '"trials" must be a non-empty list')
    for t, trial in enumerate(trials):
        where = f"trial {t + 1}"
        if not isinstance(trial, dict) or not isinstance(trial.get("ratings"), list):
            raise _fail(path, f'{where} has no "ratings" list')
        if not isinstance(trial.get("clip"), str):
            raise _fail(path, f'{where} has no "clip" name')
        for r, rating in enumerate(trial["ratings"]):
            value = rating.get("rating") if isinstance(rating, dict) else None
            if not isinstance(rating, dict) or not isinstance(rating.get("system"), str):
                raise _fail(path, f'{where}, rating {r + 1} has no "system" name')
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not 0 <= value <= 100):
                raise _fail(path, f"{where}, rating {r + 1} ({rating['system']}): "
                                  f"the rating must be a number from 0 to 100, got {value!r}")
    data.setdefault("listener", os.path.splitext(os.path.basename(path))[0])
    return data


def aggregate(files: Sequence[dict]) -> dict:
    """Per system: mean ± 95% CI of every rating (all listeners and clips) and per category,
    and the mean achieved kbps; plus the listeners that post-screening would exclude."""
    by_system: dict[str, dict[str, list[float]]] = {}
    kbps: dict[str, list[float]] = {}
    screened = []
    for data in files:
        low = trials = 0
        for trial in data["trials"]:
            category = trial.get("category") or "all"
            for rating in trial["ratings"]:
                groups = by_system.setdefault(rating["system"], {})
                groups.setdefault("all", []).append(float(rating["rating"]))
                if category != "all":
                    groups.setdefault(category, []).append(float(rating["rating"]))
                if rating.get("kbps_actual") is not None:
                    kbps.setdefault(rating["system"], []).append(float(rating["kbps_actual"]))
                if rating["system"] == HIDDEN_REFERENCE:
                    trials += 1
                    low += rating["rating"] < SCREEN_BELOW
        if trials and low > SCREEN_SHARE * trials:
            screened.append({"listener": data["listener"], "low": low, "trials": trials})
    systems = {name: {group: mean_ci(values) for group, values in groups.items()}
               | {"kbps_actual": mean_ci(kbps.get(name, []))["mean"]}
               for name, groups in by_system.items()}
    return {"listeners": [d["listener"] for d in files], "systems": systems,
            "screened": screened}


def mushra_table(result: dict) -> str:
    """The aggregate as Markdown: one row per system, best first."""
    systems = result["systems"]
    categories = sorted({g for s in systems.values() for g in s if g not in ("all", "kbps_actual")},
                        key=lambda c: CATEGORY_ORDER.index(c) if c in CATEGORY_ORDER else 99)
    head = ["system", "kbps achieved", "ratings", "all"] + [c.replace("_", " ") for c in categories]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, stats in sorted(systems.items(), key=lambda kv: -kv[1]["all"]["mean"]):
        rate = stats["kbps_actual"]
        cells = [name, "–" if rate is None else f"{rate:.2f}", str(stats["all"]["n"]),
                 cell(stats["all"], 1)] + [cell(stats.get(c), 1) for c in categories]
        lines.append("| " + " | ".join(cells) + " |")
    listeners = result["listeners"]
    parts = [f"MUSHRA ratings (0-100), mean ± 95% CI over {len(listeners)} listener"
             f"{'s' if len(listeners) != 1 else ''} ({', '.join(listeners)}) and their clips.",
             "", *lines]
    for s in result["screened"]:
        parts += ["", f"Post-screening (ITU-R BS.1534): {s['listener']} rated the hidden "
                      f"reference below {SCREEN_BELOW:g} in {s['low']} of {s['trials']} trials "
                      f"(over {SCREEN_SHARE:.0%}); kept in the table above."]
    return "\n".join(parts)


def collect(paths: Sequence[str], out: str | None = None) -> str:
    """Reads every ratings file, aggregates them and returns (and writes to `out`) the table."""
    if not paths:
        raise ValueError("--collect needs at least one ratings file")
    table = mushra_table(aggregate([read_ratings(p) for p in paths]))
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(table + "\n")
    return table
