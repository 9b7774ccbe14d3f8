"""`sscodec data stats`: what a spec holds (hours, files, rates, channels, kinds) and what is broken."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tqdm.auto import tqdm

from data_pipelines.audio_io import AudioFile, AudioReadError, verify
from data_pipelines.manifest import read_manifest, scan_folder
from data_pipelines.specs import parse_spec


def _summarize(files: list[AudioFile], skipped: list[tuple[str, str]]) -> dict[str, Any]:
    hours_by_kind: dict[str, float] = defaultdict(float)
    hours_by_split: dict[str, float] = defaultdict(float)
    for f in files:
        hours_by_kind[f.kind or "unlabelled"] += f.duration / 3600
        hours_by_split[f.split or "unsplit"] += f.duration / 3600
    return {
        "files": len(files),
        "hours": sum(f.duration for f in files) / 3600,
        "sample_rates": dict(sorted(Counter(f.sample_rate for f in files).items())),
        "channels": dict(sorted(Counter(f.channels for f in files).items())),
        "hours_by_kind": dict(sorted(hours_by_kind.items())),
        "hours_by_split": dict(sorted(hours_by_split.items())),
        "unreadable": [{"path": p, "reason": r} for p, r in skipped],
    }


def data_stats(spec: str, *, data_dir: str = "", deep: bool = False,
               progress: bool = True) -> dict[str, Any]:
    """Statistics of a folder, manifest or TFDS split. `deep` decodes every file in full (finds
    truncated files and NaN samples, not only unreadable headers)."""
    parsed = parse_spec(spec)
    if parsed.form == "tfds":
        return {"spec": spec, "form": "tfds", **_tfds_stats(spec, data_dir, progress)}
    if parsed.form == "folder":
        files, skipped = scan_folder(parsed.path, deep=deep, progress=progress)
    else:
        files, skipped = read_manifest(parsed.path)
        if deep:
            good = []
            for f in tqdm(files, desc="verify", unit="file", disable=not progress):
                try:
                    verify(f)
                    good.append(f)
                except AudioReadError as e:
                    skipped.append((f.path, str(e)))
            files = good
    return {"spec": spec, "form": parsed.form, **_summarize(files, sorted(skipped))}


def _tfds_stats(spec: str, data_dir: str, progress: bool) -> dict[str, Any]:
    from data_pipelines.sources import TfdsSource
    parsed = parse_spec(spec)
    source = TfdsSource(parsed, data_dir)
    files = []
    for i in tqdm(range(len(source)), desc="read", unit="record", disable=not progress):
        record = source.data[i]
        audio = record["audio"]
        channels = audio.shape[1] if audio.ndim == 2 else 1
        kind = source.kind(i) or _text(record.get("kind", b""))
        files.append(AudioFile(f"{source.name}[{i}]", len(audio), int(record["sample_rate"]),
                               channels, kind, parsed.split))
    return _summarize(files, [])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def format_stats(stats: dict[str, Any]) -> str:
    """A human-readable report of `data_stats`."""
    lines = [f"{stats['spec']} ({stats['form']}): {stats['files']} files, {stats['hours']:.3f} h",
             "  sample rates: " + ", ".join(f"{r} Hz x{n}" for r, n in stats["sample_rates"].items()),
             "  channels:     " + ", ".join(f"{c} x{n}" for c, n in stats["channels"].items()),
             "  kinds:        " + ", ".join(f"{k} {h:.3f} h" for k, h in stats["hours_by_kind"].items()),
             "  splits:       " + ", ".join(f"{k} {h:.3f} h" for k, h in stats["hours_by_split"].items()),
             f"  unreadable:   {len(stats['unreadable'])}"]
    lines += [f"    {u['path']}: {u['reason']}" for u in stats["unreadable"]]
    return "\n".join(lines)
