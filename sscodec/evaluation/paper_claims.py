"""The paper's claims, checked against a sweep's results: a verdict per claim, with its evidence.

Each of the four paper sweeps makes relative claims (one system as good as, or better than,
another). They are checked on paired differences: both systems code the same clips, so the
difference of their scores clip by clip has a far narrower 95% confidence interval than either
mean. For a difference A - B with interval [lo, hi] and the sweep's equivalence margin m (MARGIN:
the size of gap the paper calls "nearly as good"; its own Table II spans 0.09 ViSQOL):

  "A >= B"   (A at least as good)  agrees when lo >= -m; disagrees when hi < -m
  "A > B"    (A better)            agrees when lo > 0;   disagrees when hi < 0
  "A ~ B"    (A as good as B)      agrees when [lo, hi] lies within [-m, m];
                                   disagrees when it lies wholly outside it
and is inconclusive otherwise (the interval is too wide to tell). An "as good as" (>= or ~) that
agrees is only evidence if the metric can see a gap of m at this quality: where a system of the
sweep is scored at several rates, its largest paired rise from its lowest to its highest rate
(`rate_contrast`) must reach m, else those verdicts are inconclusive ("insensitive": at a short
budget the bitrate barely changes the scores, and everything is "as good as" everything). A claim agrees when every
comparison it is made of agrees, disagrees when any disagrees, else is inconclusive. The metric
is the sweep's table metric (ViSQOL); PESQ is shown beside it as a second opinion, and does not
vote.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from sscodec.evaluation.eval_table import METRIC_LABELS, mean_ci

MARGIN = {"visqol_speech": 0.1, "visqol_audio": 0.1, "pesq": 0.1, "stoi": 0.02}
SECOND_OPINION = "pesq"
AGREES, DISAGREES, INCONCLUSIVE = "agrees", "disagrees", "inconclusive"


@dataclasses.dataclass
class Comparison:
    """One paired comparison of two systems at one bitrate on one category of clips."""

    a: str
    b: str
    kbps: float
    relation: str  # ">=", ">" or "~"
    category: str = "clean_speech"
    kbps_b: float | None = None  # B's bitrate when it is not A's (rate_contrast)


@dataclasses.dataclass
class Claim:
    """A claim of the paper: its words, and the comparisons it rests on in a given sweep."""

    text: str
    comparisons: Callable[[dict], list[Comparison]]


def rows_by_key(results: dict) -> dict:
    """(system, kbps, category, clip) -> scored row, over every point of the sweep."""
    rows = {}
    for result in results["points"].values():
        for r in result["rows"]:
            rows[(r["system"], r["kbps"], r["category"], r["clip"])] = r
    return rows


def paired_difference(rows: dict, c: Comparison, metric: str) -> dict | None:
    """A - B on the clips both were scored on: mean, 95% CI, n, and both means; None when no
    clip was scored by both."""
    def scores(system, kbps):
        return {k[3]: v.get(metric) for k, v in rows.items()
                if k[0] == system and abs(k[1] - kbps) < 1e-6 and k[2] == c.category}
    a, b = scores(c.a, c.kbps), scores(c.b, c.kbps if c.kbps_b is None else c.kbps_b)
    clips = [k for k in a if k in b and a[k] is not None and b[k] is not None]
    if not clips:
        return None
    diff = mean_ci([a[k] - b[k] for k in clips])
    return {**diff, "a": mean_ci([a[k] for k in clips])["mean"],
            "b": mean_ci([b[k] for k in clips])["mean"]}


def rate_contrast(rows: dict, metric: str, category: str) -> dict | None:
    """The largest paired rise of `metric` from a system's lowest to its highest scored rate, over
    the systems scored at two rates or more ({"system", "low", "high", mean, ci95, ...}); None
    when no system is."""
    best = None
    for system in sorted({k[0] for k in rows if k[2] == category}):
        rates = sorted({k[1] for k in rows if k[0] == system and k[2] == category})
        if len(rates) < 2:
            continue
        diff = paired_difference(rows, Comparison(system, system, rates[-1], ">", category,
                                                  kbps_b=rates[0]), metric)
        if diff is not None and (best is None or diff["mean"] > best["mean"]):
            best = {"system": system, "low": rates[0], "high": rates[-1], **diff}
    return best


def judge(relation: str, diff: dict | None, margin: float) -> str:
    """The verdict of one comparison (see the module docstring)."""
    if diff is None or diff["ci95"] is None:
        return INCONCLUSIVE
    lo, hi = diff["mean"] - diff["ci95"], diff["mean"] + diff["ci95"]
    if relation == ">=":
        return AGREES if lo >= -margin else DISAGREES if hi < -margin else INCONCLUSIVE
    if relation == ">":
        return AGREES if lo > 0 else DISAGREES if hi < 0 else INCONCLUSIVE
    if relation == "~":
        if -margin <= lo and hi <= margin:
            return AGREES
        return DISAGREES if lo > margin or hi < -margin else INCONCLUSIVE
    raise ValueError(f"unknown relation {relation!r}")


def combine(verdicts: Sequence[str]) -> str:
    if not verdicts:
        return INCONCLUSIVE
    if DISAGREES in verdicts:
        return DISAGREES
    return AGREES if all(v == AGREES for v in verdicts) else INCONCLUSIVE


# ---------------------------------------------------------------------------- the claims

def _points(results: dict) -> list[dict]:
    return results["sweep"]["points"]


def _rates(results: dict, name: str) -> list[float]:
    point = next(p for p in _points(results) if p["name"] == name)
    result = results["points"].get(name)
    return sorted({r["kbps"] for r in result["rows"]}) if result else list(point["kbps"] or [])


def _scalability(results: dict) -> tuple[list[Comparison], list[Comparison]]:
    names = [p["name"] for p in _points(results)]
    specific = [n for n in names if n.startswith("specific_")]
    truncated = [n for n in names if n.startswith("no_dropout_")]
    if "scalable" not in names:
        return [], []
    matches = [Comparison("scalable", n, rate, ">=") for n in specific
               for rate in _rates(results, n)]
    top = max(_rates(results, "scalable") or [0])
    beats = [Comparison("scalable", n, rate, ">") for n in truncated
             for rate in _rates(results, "scalable") if rate < top]
    return matches, beats


def _depth(results: dict) -> list[Comparison]:
    names = [p["name"] for p in _points(results)]
    kbps = results["sweep"]["table_kbps"]
    return [Comparison(n, names[0], kbps, ">=") for n in names[1:]]


def _widths(results: dict) -> dict:
    return {(p["label"]["C_enc"], p["label"]["C_dec"]): p["name"] for p in _points(results)}


def _light_encoder(results: dict) -> list[Comparison]:
    widths, kbps = _widths(results), results["sweep"]["table_kbps"]
    full = max(e for e, _ in widths)
    return [Comparison(name, widths[(full, full)], kbps, ">=")
            for (e, d), name in widths.items() if e < d == full]


def _decoder_matters(results: dict) -> list[Comparison]:
    """The lightest encoder against the decoder made as light (C_enc 8 / C_dec 32 against
    32 / 8 in the paper): the light decoder should lose more."""
    widths, kbps = _widths(results), results["sweep"]["table_kbps"]
    full = max(e for e, _ in widths)
    light = min(e for e, d in widths if d == full)
    if (full, light) not in widths:
        return []
    return [Comparison(widths[(light, full)], widths[(full, light)], kbps, ">")]


def _denoise_modes(results: dict, relation: str, pairs) -> list[Comparison]:
    out = []
    for a, b in pairs:
        out += [Comparison(a, b, rate, relation, "noisy_speech")
                for rate in _rates(results, b.split("+")[0])]
    return out


CLAIMS = {
    "bitrate_scalability": [
        Claim("A scalable model (quantizer dropout) is as good as a bitrate-specific model at "
              "each of its rates (Fig. 7c).", lambda r: _scalability(r)[0]),
        Claim("It beats a model trained without dropout and truncated to fewer quantizers, at "
              "every rate below the top one.", lambda r: _scalability(r)[1]),
    ],
    "codebook_depth": [
        Claim("At a fixed bitrate many small codebooks are nearly as good as few large ones "
              "(Table II: 4.01, 3.98, 3.92).", _depth),
    ],
    "capacity": [
        Claim("A lighter encoder costs little quality (Table I: C_enc 8 / C_dec 32 scores "
              "3.99 against 4.01).", _light_encoder),
        Claim("The decoder's capacity matters more: making the decoder as light loses more "
              "(C_enc 32 / C_dec 8: 3.90).", _decoder_matters),
    ],
    "denoising": [
        Claim("With the denoise flag on, noisy speech comes out far better than with it off, "
              "for FiLM at the encoder and at the decoder (Fig. 8).",
              lambda r: _denoise_modes(r, ">", [("film_encoder+denoise", "film_encoder"),
                                                ("film_decoder+denoise", "film_decoder")])),
        Claim("FiLM at the encoder and at the decoder denoise about equally.",
              lambda r: _denoise_modes(r, "~", [("film_encoder+denoise",
                                                 "film_decoder+denoise")])),
        Claim("The flexible model (flag on) matches a model trained to always denoise.",
              lambda r: _denoise_modes(r, "~", [("film_encoder+denoise", "always_denoise")])),
    ],
}


def check_claims(results: dict) -> list[dict]:
    """Every claim of the sweep's paper figure, judged on its results (see the module
    docstring); [] for a sweep that checks no claim of the paper."""
    sweep = results["sweep"]
    metric = sweep.get("table_metric", "visqol_audio")
    margin = MARGIN[metric]
    rows = rows_by_key(results)
    checked = []
    contrasts = {}
    for claim in CLAIMS.get(sweep["name"], []):
        evidence = []
        for c in claim.comparisons(results):
            if c.category not in contrasts:
                contrasts[c.category] = rate_contrast(rows, metric, c.category)
            contrast = contrasts[c.category]
            diff = paired_difference(rows, c, metric)
            second = paired_difference(rows, c, SECOND_OPINION)
            verdict = judge(c.relation, diff, margin)
            insensitive = (verdict == AGREES and c.relation in (">=", "~")
                           and contrast is not None and contrast["mean"] < margin)
            evidence.append({**dataclasses.asdict(c), "metric": metric, "difference": diff,
                             "second_opinion": second, "insensitive": insensitive,
                             "verdict": INCONCLUSIVE if insensitive else verdict})
        contrast = contrasts.get(evidence[0]["category"]) if evidence else None
        checked.append({"claim": claim.text, "metric": metric, "margin": margin,
                        "verdict": combine([e["verdict"] for e in evidence]),
                        "evidence": evidence, "rate_contrast": contrast,
                        "why": _why(evidence, margin, contrast)})
    return checked


def _interval(diff: dict | None) -> str:
    if diff is None:
        return "not scored"
    if diff["ci95"] is None:
        return f"{diff['mean']:+.2f} (one clip)"
    return f"{diff['mean']:+.2f} ± {diff['ci95']:.2f}"


def _why(evidence: list[dict], margin: float, contrast: dict | None = None) -> str:
    """One sentence: which comparisons decided the verdict."""
    if not evidence:
        return "no point of the sweep makes this comparison"
    missing = [e for e in evidence if e["difference"] is None]
    if missing:
        return f"{len(missing)} of {len(evidence)} comparisons have no scored clips yet"
    if any(e["insensitive"] for e in evidence) and not any(
            e["verdict"] == DISAGREES for e in evidence):
        return (f"every difference is inside the margin, but the metric rises only "
                f"{_interval(contrast)} from {contrast['system']}'s {contrast['low']:g} to "
                f"{contrast['high']:g} kbps, less than the margin {margin:g}: at this budget "
                "'as good as' cannot be told from a metric that does not see the bitrate yet")
    words = {">=": f"at least as good (within {margin:g})", ">": "better",
             "~": f"level (within ±{margin:g})"}
    parts = []
    for verdict in (DISAGREES, INCONCLUSIVE, AGREES):
        hits = [e for e in evidence if e["verdict"] == verdict]
        if not hits:
            continue
        what = {DISAGREES: "the CI excludes", AGREES: "the CI shows",
                INCONCLUSIVE: "the CI is too wide to show or exclude"}[verdict]
        parts.append(f"{what} '{words[hits[0]['relation']]}' for "
                     + ", ".join(f"{e['a']} - {e['b']} at {e['kbps']:g} kbps "
                                 f"({_interval(e['difference'])})" for e in hits))
        if verdict == DISAGREES:
            break  # the disagreeing comparisons decide
    return "; ".join(parts)


def claims_markdown(checked: list[dict]) -> str:
    """The claims section of report.md: a verdict and an evidence table per claim."""
    if not checked:
        return ""
    metric = METRIC_LABELS.get(checked[0]["metric"], checked[0]["metric"])
    parts = ["## The paper's claims, checked", "",
             f"Paired differences A - B on the same clips (mean ± 95% CI) of {metric}, which "
             f"decides, and of {METRIC_LABELS[SECOND_OPINION]}, shown beside it; margin "
             f"{checked[0]['margin']:g} (see sscodec/evaluation/paper_claims.py)."]
    contrast = next((c["rate_contrast"] for c in checked if c["rate_contrast"]), None)
    if contrast:
        parts[-1] += (f" The metric's sensitivity here: {contrast['system']} from "
                      f"{contrast['low']:g} to {contrast['high']:g} kbps, "
                      f"{_interval(contrast)}.")
    else:
        parts[-1] += (" No system of this sweep is scored at two rates, so the metric's "
                      "sensitivity at this budget is not measured here.")
    for i, c in enumerate(checked, 1):
        parts += ["", f"**Claim {i}: {c['claim']}** Verdict: **{c['verdict']}**: {c['why']}.", "",
                  f"| A | B | kbps | A | B | A - B ({metric}) | A - B "
                  f"({METRIC_LABELS[SECOND_OPINION]}) | test | verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for e in c["evidence"]:
            d = e["difference"] or {}
            mean = lambda v: "–" if v is None else f"{v:.2f}"
            parts.append(f"| {e['a']} | {e['b']} | {e['kbps']:g} | {mean(d.get('a'))} | "
                         f"{mean(d.get('b'))} | {_interval(e['difference'])} | "
                         f"{_interval(e['second_opinion'])} | A {e['relation']} B | "
                         f"{e['verdict']}{' (insensitive)' if e['insensitive'] else ''} |")
    return "\n".join(parts)
