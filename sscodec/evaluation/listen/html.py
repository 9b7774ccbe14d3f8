"""The HTML of a listening page (index.html) and of its MUSHRA-style page (mushra.html).

Both are single files with their CSS and JavaScript inlined, linking only to the audio and images
beside them, so they work from a file:// URL with no server and nothing fetched from elsewhere.
Both render `listen.json`'s page description (see sscodec.evaluation.listen.build).
"""

from __future__ import annotations

import json
import os
from html import escape

from sscodec.evaluation.eval_table import METRIC_LABELS

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = "1234567890"
CATEGORY_TITLES = {"clean_speech": "Clean speech", "noisy_speech": "Noisy speech",
                   "music": "Music", "audio": "Other audio"}


def _asset(name: str) -> str:
    with open(os.path.join(HERE, name)) as f:
        return f.read()


def _document(title: str, body: str, scripts: list[str], css_class: str = "") -> str:
    js = "\n".join(f"<script>\n{s}</script>" for s in scripts)
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>\n{_asset('page.css')}</style>\n</head>\n"
            f'<body class="{css_class}">\n{body}\n{js}\n</body>\n</html>\n')


def _kbps_text(version: dict) -> str:
    if version["kind"] == "reference":
        return "reference, not coded"
    if version["kind"] == "input":
        return "what the codecs got, not coded"
    return (f"achieved <b>{version['kbps_actual']:.2f} kbps</b> "
            f"(target {version['kbps']:g})")


def _scores_text(scores: dict) -> str:
    parts = [f"{METRIC_LABELS.get(k, k).replace('-WB', '')} {v:.2f}" for k, v in scores.items()
             if v is not None]
    return " · ".join(parts) if parts else ""


def _help(spectrograms: bool = True) -> str:
    return ('<p class="help">Pick a version with its button, the number keys <kbd>1</kbd>-'
            '<kbd>9</kbd> (<kbd>0</kbd> for the tenth) or the arrow keys: it takes over at the '
            'same position, playing if one was playing. <kbd>Space</kbd> plays and pauses the '
            'clip you last used' + ('; clicking a spectrogram jumps there.' if spectrograms
                                    else '.') + '</p>')


def _transport(title: str) -> str:
    return ('<div class="transport">'
            f'<button type="button" class="play" aria-label="Play {escape(title)}">'
            '▶ Play</button>'
            '<span class="time">0:00.0 / 0:00.0</span>'
            '<span class="now" aria-live="polite"></span></div>')


def _version_row(clip: dict, i: int, version: dict) -> str:
    name = escape(version["label"])
    key = KEYS[i] if i < len(KEYS) else ""
    shortcut = f' aria-keyshortcuts="{key}"' if key else ""
    return (f'<li class="version" data-index="{i}" data-kind="{version["kind"]}">'
            f'<button type="button" class="pick" data-name="{name}" aria-pressed="false"'
            f'{shortcut} aria-label="Listen to {name}">{key or i + 1}</button>'
            f'<div class="meta"><span class="name">{name}</span>'
            f'<span class="kbps">{_kbps_text(version)}</span>'
            f'<span class="scores">{escape(_scores_text(version["scores"]))}</span></div>'
            f'<img class="spec" src="{escape(version["spectrogram"])}" '
            f'alt="log-mel spectrogram of {name}, {escape(clip["name"])}">'
            f'<audio controls preload="metadata" src="{escape(version["audio"])}" '
            f'aria-label="{name}"></audio></li>')


def _summary_table(page: dict) -> str:
    """One row per system, per category its mean achieved kbps, ViSQOL and PESQ."""
    rows = page.get("summary") or []
    if not rows:
        return ""
    categories = list(dict.fromkeys(r["category"] for r in rows))
    by_key = {(r["label"], r["category"]): r for r in rows}
    head = "<tr><th>system</th>" + "".join(
        f"<th>{CATEGORY_TITLES.get(c, c)}: kbps · ViSQOL"
        f"{' · PESQ' if c.endswith('speech') else ''}</th>" for c in categories) + "</tr>"
    body = []
    for label in dict.fromkeys(r["label"] for r in rows):
        cells = []
        for category in categories:
            r = by_key.get((label, category))
            if r is None:
                cells.append("<td></td>")
                continue
            speech = category.endswith("speech")
            values = [f"{r['kbps_actual']:.2f}",
                      _number(r.get("visqol_speech" if speech else "visqol_audio"))]
            values += [_number(r.get("pesq"))] if speech else []
            cells.append(f"<td>{' · '.join(values)}</td>")
        body.append(f"<tr><td>{escape(label)}</td>{''.join(cells)}</tr>")
    return f'<table class="summary">{head}{"".join(body)}</table>'


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def render_index(page: dict) -> str:
    """index.html: the rate-quality plot, then every clip with all its versions."""
    model = page["model"]
    settings = page["settings"]
    parts = ["<header>", f"<h1>{escape(page['title'])}</h1>",
             f'<p class="muted">Model <b>{escape(model["name"])}</b> (step {model["step"]}, '
             f'{model["sample_rate"] // 1000} kHz'
             + (", FiLM denoising" if model["film"] != "none" else "") + ")"
             + f' on <code>{escape(settings["data"])}</code>'
             + (f' with noise from <code>{escape(settings["noise"])}</code>'
                if settings["noise"] else "")
             + f'; {len(page["clips"])} clips of up to {settings["clip_seconds"]:g} s. '
             'Scores are against the reference (the clean speech for noisy speech): ViSQOL '
             'speech mode and PESQ-WB on speech, ViSQOL audio mode on music. Achieved kbps is '
             'what was sent (the .ssc stream, the Ogg file, codec2 frames) over the clip.</p>']
    if page.get("rate_quality"):
        parts.append(f'<figure class="plot"><img src="{escape(page["rate_quality"])}" '
                     'alt="rate-quality plot: ViSQOL against achieved kbps per system">'
                     '<figcaption class="muted">Means over the clips of this page (a few clips: '
                     'a sketch, not an evaluation; <code>sscodec eval</code> gives one).'
                     '</figcaption></figure>')
    parts.append(_summary_table(page))
    links = [f'<a href="#{c}">{CATEGORY_TITLES.get(c, c)}</a>'
             for c in dict.fromkeys(clip["category"] for clip in page["clips"])]
    if page.get("mushra"):
        links.append('<a href="mushra.html">MUSHRA-style test (blind)</a>')
    parts += [f"<nav>{''.join(links)}</nav>", _help(), "</header>", "<main>"]
    category = None
    for clip in page["clips"]:
        if clip["category"] != category:
            if category is not None:
                parts.append("</section>")
            category = clip["category"]
            parts.append(f'<section id="{category}" aria-label="{CATEGORY_TITLES.get(category)}">'
                         f"<h2>{CATEGORY_TITLES.get(category, category)}</h2>")
        title = clip["name"]  # noisy speech: SPEECH+NOISE@SNR
        parts.append(f'<article class="clip" data-clip="{clip["index"]}" '
                     f'aria-labelledby="clip{clip["index"]}-title">'
                     f'<h3 id="clip{clip["index"]}-title">{escape(title)}</h3>'
                     + _transport(title)
                     + f'<ol class="versions" aria-label="Versions of {escape(title)}">'
                     + "".join(_version_row(clip, i, v) for i, v in enumerate(clip["versions"]))
                     + "</ol></article>")
    parts += ["</section>" if category else "", "</main>",
              f'<footer>Made by <code>sscodec listen</code> {escape(page["created"])}.</footer>']
    return _document(page["title"], "\n".join(parts), [_asset("player.js")])


def render_mushra(page: dict) -> str:
    """mushra.html: per clip, the named reference and the hidden conditions in the page's
    seeded random order, each with a 0-100 slider, and a button that saves the ratings."""
    trials = page["mushra"]["trials"]
    parts = ["<header>", f"<h1>{escape(page['title'])}: MUSHRA-style test</h1>",
             '<p>For each clip, listen to the <b>reference</b> and to every condition '
             '(A, B, ...), then rate how close each is to the reference from 0 (bad) to 100 '
             '(excellent: indistinguishable). One condition is the hidden reference; rate it 100 '
             'when you find it. Names and order are hidden and differ per clip.</p>', _help(False),
             '<p><label>Your name or initials: <input id="listener" type="text" '
             'autocomplete="off"></label></p>', "</header>", "<main>"]
    for t, trial in enumerate(trials):
        clip = page["clips"][trial["clip_index"]]
        rows = [f'<li class="version" data-index="0"><button type="button" class="pick" '
                f'data-name="Reference" aria-pressed="false" aria-keyshortcuts="1" '
                f'aria-label="Listen to the reference">Ref</button>'
                f'<span class="muted">the reference: rate the others against it</span><span></span>'
                f'<audio preload="metadata" src="{escape(trial["reference"])}"></audio></li>']
        for j, condition in enumerate(trial["audio"]):
            letter = chr(ord("A") + j)
            key = KEYS[j + 1] if j + 1 < len(KEYS) else ""
            rows.append(
                f'<li class="version" data-index="{j + 1}"><button type="button" class="pick" '
                f'data-name="Condition {letter}" aria-pressed="false"'
                + (f' aria-keyshortcuts="{key}"' if key else "")
                + f' aria-label="Listen to condition {letter}">{letter}</button>'
                f'<div><input class="rating" type="range" min="0" max="100" step="1" value="0" '
                f'data-condition="{j}" aria-label="Rating of condition {letter}, 0 to 100" '
                f'aria-describedby="t{t}c{j}"><div class="scale" aria-hidden="true"><span>bad'
                f'</span><span>poor</span><span>fair</span><span>good</span><span>excellent'
                f'</span></div></div><output id="t{t}c{j}">0</output>'
                f'<audio preload="metadata" src="{escape(condition)}"></audio></li>')
        parts.append(f'<article class="clip trial" data-trial="{t}" '
                     f'aria-labelledby="trial{t}-title"><h3 id="trial{t}-title">Clip {t + 1} of '
                     f'{len(trials)} ({CATEGORY_TITLES.get(clip["category"], clip["category"])})'
                     f"</h3>{_transport(f'clip {t + 1}')}"
                     f'<ol class="versions" aria-label="Reference and conditions of clip {t + 1}">'
                     + "".join(rows) + "</ol></article>")
    parts += ['<div class="actions"><button type="button" id="download">Download ratings '
              '(JSON)</button><a id="download-link" hidden></a>'
              '<span id="status" role="status" aria-live="polite"></span></div>', "</main>",
              '<footer>Ratings stay on this computer until you send the file: '
              '<code>sscodec listen --collect FILES...</code> makes the table.</footer>']
    data = {"page": page["mushra"]["page"], "trials": [
        {"clip": tr["clip"], "category": tr["category"], "conditions": tr["conditions"]}
        for tr in trials]}
    blob = json.dumps(data).replace("</", "<\\/")
    body = "\n".join(parts) + (f'\n<script type="application/json" id="mushra-data">{blob}'
                               "</script>")
    return _document(page["title"] + ": MUSHRA", body,
                     [_asset("player.js"), _asset("mushra.js")], "mushra")
