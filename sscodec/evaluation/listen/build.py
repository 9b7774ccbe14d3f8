"""`sscodec listen`: builds a listening page for a model on a few clips of a data set.

OUT/index.html (and OUT/mushra.html with `mushra=True`) plus OUT/audio/*.flac,
OUT/spectrograms/*.png, OUT/rate_quality.png and OUT/listen.json (the page's description: every
clip, version, file, achieved bitrate and score). A multi-channel model's page plays its channels
(mono baselines in every channel), scores them as `sscodec eval` does (per channel, mid and side)
and draws the mid's spectrogram. The files have neutral names (c00_v03.flac), so
nothing in a file name tells the blind page's conditions apart.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from typing import Sequence

import numpy as np

from sscodec.quality import metrics
from sscodec.quality.eval_data import CATEGORIES, build_eval_set
from sscodec.evaluation.evaluate import write_atomic
from sscodec.evaluation.listen import html, media, mushra
from sscodec.evaluation.listen.versions import clip_versions, default_opus_kbps, default_rates, lowpass_anchor, system_points

log = logging.getLogger(__name__)


def _open(model: str):
    from sscodec.codec import Codec
    from sscodec.platforms import executable_cache_dir
    # compiled once per machine and bundle, like `sscodec compress`
    return Codec.load(model, executable_cache=executable_cache_dir())


def _summary(rows: list[dict]) -> list[dict]:
    """Per (label, category): mean achieved kbps and scores over the page's clips."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["label"], row["category"]), []).append(row)
    summary = []
    for (label, category), members in groups.items():
        entry = {"label": label, "category": category, "clips": len(members),
                 "kbps_actual": float(np.mean([r["kbps_actual"] for r in members]))}
        for name in ("visqol_speech", "visqol_audio", "pesq"):
            values = [r[name] for r in members if r.get(name) is not None]
            entry[name] = float(np.mean(values)) if values else None
        summary.append(entry)
    return summary


def build_page(out: str, model: str, *, data: str = "embedded", noise: str = "",
               kbps: Sequence[float] | None = None, opus_kbps: Sequence[float] | None = None,
               per_category: int = 2, clip_seconds: float = 4.0,
               categories: Sequence[str] | None = None, denoise: bool = True,
               codec2: bool = True, with_mushra: bool = False, seed: int = 0,
               data_dir: str = "", progress: bool = True) -> dict:
    """Codes, scores and writes the page; returns its description (also OUT/listen.json)."""
    from tqdm import tqdm

    codec = _open(model)
    name = codec.manifest.get("name") or os.path.basename(os.path.normpath(codec.path or model))
    rates = default_rates(codec, kbps)
    if not rates:
        raise ValueError(f"none of the bitrates {list(kbps or [])} is within the model's range "
                         f"({codec.bitrates[0]:g}-{codec.bitrates[-1]:g} kbps)")
    opus_kbps = list(opus_kbps) if opus_kbps else default_opus_kbps(rates)
    points = system_points(codec, name, rates, opus_kbps, denoise, codec2)
    sample_rate = codec.sample_rate
    eval_set = build_eval_set(data, noise=noise, sample_rate=sample_rate,
                              clip_seconds=clip_seconds, per_category=per_category,
                              categories=categories, seed=seed, data_dir=data_dir,
                              channels=codec.channels)
    clips = sorted(eval_set.clips, key=lambda c: CATEGORIES.index(c.category))
    visqol = metrics.Visqol()
    page_clips, rows = [], []
    bar = tqdm(clips, unit="clip", desc="listen", disable=not progress, dynamic_ncols=True)
    for index, clip in enumerate(bar):
        versions = clip_versions(clip, points, sample_rate, name, visqol)
        top_db = float(media.log_mel(clip.reference, sample_rate).max())
        described = []
        for v, version in enumerate(versions):
            stem = f"c{index:02d}_v{v:02d}"
            media.write_audio(os.path.join(out, "audio", stem + ".flac"), version.audio,
                              sample_rate)
            media.write_spectrogram(os.path.join(out, "spectrograms", stem + ".png"),
                                    version.audio, sample_rate, top_db)
            described.append({"label": version.label, "key": version.key, "kind": version.kind,
                              "system": version.system, "kbps": version.kbps,
                              "kbps_actual": version.kbps_actual, "scores": version.scores,
                              "audio": f"audio/{stem}.flac",
                              "spectrogram": f"spectrograms/{stem}.png"})
            if version.kind in ("model", "baseline"):
                rows.append({"system": version.system, "label": version.label,
                             "kbps": version.kbps, "kbps_actual": version.kbps_actual,
                             "category": clip.category, "clip": clip.name, **version.scores})
        entry = {"index": index, "name": clip.name, "category": clip.category,
                 "snr_db": clip.snr_db, "seconds": len(clip.input) / sample_rate,
                 "versions": described}
        if with_mushra:
            extra = []
            for system, audio in ((mushra.HIDDEN_REFERENCE, clip.reference),
                                  (mushra.ANCHOR, lowpass_anchor(clip.reference, sample_rate))):
                path = f"audio/c{index:02d}_v{len(versions) + len(extra):02d}.flac"
                media.write_audio(os.path.join(out, path), audio, sample_rate)
                extra.append({"system": system, "audio": path})
            entry["mushra_extra"] = extra
        page_clips.append(entry)
    bar.close()
    page = {
        "format": "sscodec-listen/1",
        "title": f"sscodec listening page: {name}",
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "model": {"name": name, "bundle": codec.path, "step": codec.manifest.get("step"),
                  "sha256": codec.manifest["sha256"], "sample_rate": sample_rate,
                  "film": codec.film, "bitrates": codec.bitrates, "channels": codec.channels},
        "settings": {"data": data, "noise": noise, "kbps": rates, "opus_kbps": opus_kbps,
                     "clip_seconds": clip_seconds, "per_category": per_category, "seed": seed},
        "skipped": [{"item": i, "reason": r} for i, r in eval_set.skipped],
        "clips": page_clips, "rows": rows, "summary": _summary(rows),
        "rate_quality": ("rate_quality.png" if media.plot_rate_quality(
            rows, os.path.join(out, "rate_quality.png")) else None),
        "mushra": None,
    }
    if with_mushra:
        page["mushra"] = {
            "page": {"model": name, "sha256": codec.manifest["sha256"], "data": data,
                     "seed": seed},
            "trials": [mushra.make_trial(c, c["index"], seed, c["mushra_extra"])
                       for c in page_clips]}
        write_atomic(os.path.join(out, "mushra.html"), html.render_mushra(page))
    write_atomic(os.path.join(out, "listen.json"), json.dumps(page, indent=1) + "\n")
    write_atomic(os.path.join(out, "index.html"), html.render_index(page))
    return page

