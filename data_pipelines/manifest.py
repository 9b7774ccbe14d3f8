"""Folder scans and JSONL manifests: scan a corpus once, train from the manifest without rescanning.

A manifest has one JSON object per line:

  {"path": "speech/a.flac", "duration": 3.2, "sample_rate": 24000, "channels": 1, "frames": 76800,
   "kind": "speech", "split": "train"}

`path` is relative to the manifest's folder (or absolute); `kind` and `split` are optional. A file
that could not be read is kept as a line with an `"error"` reason instead of its audio fields, so
`sscodec data stats` can report it and training skips it without probing it again. `kind` is read
from the path (a `speech/`, `music/` or `noise/` folder) and `split` likewise (`train/`, `test/`...).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
from typing import Sequence

from tqdm.auto import tqdm

from data_pipelines.audio_io import AUDIO_EXTENSIONS, AudioFile, AudioReadError, probe, verify

log = logging.getLogger(__name__)

KINDS = ("speech", "music", "noise")
SPLITS = {"train": "train", "training": "train", "valid": "validation", "validation": "validation",
          "dev": "validation", "test": "test", "eval": "test"}

Skipped = tuple[str, str]  # (path, reason)


def labels_from_path(relpath: str) -> tuple[str, str]:
    """(kind, split) named by the folders of a path relative to the corpus root ("" if none)."""
    parts = [p.lower() for p in relpath.replace("\\", "/").split("/")[:-1]]
    kind = next((p for p in parts if p in KINDS), "")
    split = next((SPLITS[p] for p in parts if p in SPLITS), "")
    return kind, split


def _probe_one(root: str, path: str, deep: bool) -> AudioFile:
    kind, split = labels_from_path(os.path.relpath(path, root))
    file = probe(path, kind, split)
    if deep:
        verify(file)
    return file


def scan_folder(root: str, *, deep: bool = False, workers: int = 16, progress: bool | None = None
                ) -> tuple[list[AudioFile], list[Skipped]]:
    """All audio files under `root`, probed in parallel threads, sorted by path.

    Returns (files, skipped): skipped lists (path, reason) for each unreadable file. `deep` decodes
    every file in full, which also finds truncated files and NaN samples (slower). The progress bar
    shows for large folders (`progress=None`) or when asked for.
    """
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isdir(root):
        raise FileNotFoundError(f"data folder not found: {root}")
    paths = []
    for dirpath, dirnames, names in os.walk(root, followlinks=True):
        dirnames.sort()
        paths += [os.path.join(dirpath, n) for n in sorted(names)
                  if n.lower().endswith(AUDIO_EXTENSIONS)]
    show = len(paths) >= 2000 if progress is None else progress
    files, skipped = [], []
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(_probe_one, root, p, deep): p for p in paths}
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(paths),
                           desc="scan", unit="file", disable=not show):
            try:
                files.append(future.result())
            except AudioReadError as e:
                skipped.append((futures[future], str(e)))
    files.sort(key=lambda f: f.path)
    skipped.sort()
    for path, reason in skipped:
        log.warning("skipping unreadable audio %s: %s", path, reason)
    return files, skipped


def write_manifest(path: str, files: Sequence[AudioFile], skipped: Sequence[Skipped] = ()) -> None:
    """Writes a manifest (paths relative to its folder when below it); atomic (temp, then rename)."""
    base = os.path.dirname(os.path.abspath(path))

    def rel(p: str) -> str:  # relative below the manifest's folder, absolute elsewhere
        p = os.path.abspath(p)
        return os.path.relpath(p, base) if p.startswith(base + os.sep) else p

    lines = []
    for f in files:
        entry = {"path": rel(f.path), "duration": round(f.duration, 6),
                 "sample_rate": f.sample_rate, "channels": f.channels, "frames": f.frames}
        entry.update({k: v for k, v in (("kind", f.kind), ("split", f.split)) if v})
        lines.append(entry)
    lines += [{"path": rel(p), "error": reason} for p, reason in skipped]
    lines.sort(key=lambda e: e["path"])
    os.makedirs(base, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as out:
        for entry in lines:
            out.write(json.dumps(entry) + "\n")
    os.replace(tmp, path)


def read_manifest(path: str) -> tuple[list[AudioFile], list[Skipped]]:
    """Reads a manifest; raises ValueError naming the line of a malformed entry."""
    base = os.path.dirname(os.path.abspath(path))
    files, skipped = [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                full = os.path.join(base, os.path.expanduser(entry["path"]))
                if "error" in entry:
                    skipped.append((full, str(entry["error"])))
                    continue
                rate = int(entry["sample_rate"])
                frames = entry.get("frames", entry.get("num_samples"))
                if frames is None:
                    frames = round(float(entry.get("duration", entry.get("duration_s"))) * rate)
                file = AudioFile(full, int(frames), rate, int(entry.get("channels", 1)),
                                 str(entry.get("kind", "")), str(entry.get("split", "")))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{number}: malformed manifest entry ({type(e).__name__}: "
                                 f"{e}); expected path, duration, sample_rate, channels") from None
            if file.frames <= 0 or file.sample_rate <= 0 or file.channels <= 0:
                raise ValueError(f"{path}:{number}: frames, sample_rate and channels must be > 0")
            files.append(file)
    return files, skipped
