"""MagnaTagATune (mirg.city.ac.uk): ~29 s music clips at 16 kHz with their tags, as a TFDS dataset.

The corpus is a zip split in three parts (mp3.zip.001-003, to be joined then unzipped) holding 16
folders `0`..`9`, `a`..`f` of mp3 clips, plus annotations_final.csv (tab-separated: clip_id, one
0/1 column per tag, mp3_path). The usual split is by folder: `0`-`b` train, `c` validation and
`d`-`f` test. A few clips of the real corpus are corrupt; they are skipped.

manual_dir may hold the extracted folders (`0/...mp3` or `mp3/0/...mp3`) or the three zip parts,
and annotations_final.csv; what it lacks is downloaded.
"""

from __future__ import annotations

import csv
import os
import shutil
from typing import Iterator

import tensorflow_datasets as tfds
from etils import epath

from data_pipelines.tfds_builders.common import (AudioBuilder, Item, extract, find_files,
                                                manual_dir)

URL = "https://mirg.city.ac.uk/datasets/magnatagatune/"
PARTS = ("mp3.zip.001", "mp3.zip.002", "mp3.zip.003")
ANNOTATIONS = "annotations_final.csv"
FOLDERS = "0123456789abcdef"
SPLIT_FOLDERS = {"train": "0123456789ab", "validation": "c", "test": "def"}
DESCRIPTION = ("MagnaTagATune: 25,863 music clips of ~29 s at 16 kHz from Magnatune, each with the "
               "tags of the TagATune game (annotations_final.csv).")


def read_tags(path: str | os.PathLike) -> dict[str, list[str]]:
    """annotations_final.csv -> {mp3_path: the tags marked 1 for that clip}."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f, delimiter="\t")
        tags = next(rows)[1:-1]
        return {row[-1]: [t for t, v in zip(tags, row[1:-1]) if v == "1"] for row in rows if row}


def join_parts(parts: list[epath.Path], dest: epath.Path) -> epath.Path:
    """Concatenates the split zip into `dest` (kept when it is already complete)."""
    size = sum(os.path.getsize(p) for p in parts)
    if dest.is_file() and os.path.getsize(dest) == size:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.parent / (dest.name + ".incomplete")
    with open(partial, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 24)
    os.replace(partial, dest)
    return dest


def _clip_root(path: epath.Path) -> epath.Path | None:
    """`path` or `path`/mp3, whichever holds clip folders (0..f), or None."""
    return next((d for d in (path, path / "mp3") if any((d / c).is_dir() for c in FOLDERS)), None)


class Magnatagatune(AudioBuilder):
    """MagnaTagATune clips: `audio`, `sample_rate` (16000), `id` (`<folder>/<clip name>`) and
    `tags` (the clip's tags, possibly none)."""

    name = "magnatagatune"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: int16 mono audio, tags, split by folder."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Optional. Put in manual_dir the extracted clip folders (manual_dir/0/... or
    manual_dir/mp3/0/...) or the parts {", ".join(PARTS)} from {URL},
    and {ANNOTATIONS}. What is missing is downloaded.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self._audio_info(DESCRIPTION, URL, tags=tfds.features.Sequence(tfds.features.Text()))

    def _split_items(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Iterator[Item]]:
        manual = manual_dir(dl_manager)
        root = self._clips(manual, dl_manager)
        if manual is not None and (manual / ANNOTATIONS).is_file():
            tags = read_tags(manual / ANNOTATIONS)
        else:
            tags = read_tags(dl_manager.download(URL + ANNOTATIONS))
        return {split: self._items(root, folders, tags) for split, folders in SPLIT_FOLDERS.items()}

    def _clips(self, manual: epath.Path | None, dl_manager: tfds.download.DownloadManager
               ) -> epath.Path:
        """The folder holding the clip folders 0..f: from manual_dir, else joined and unzipped."""
        if manual is not None and (root := _clip_root(manual)):
            return root
        if manual is not None and all((manual / p).is_file() for p in PARTS):
            parts = [manual / p for p in PARTS]
        else:
            parts = dl_manager.download([URL + p for p in PARTS])
        extracted = extract(join_parts(parts, dl_manager.download_dir / "mp3.zip"), dl_manager)
        root = _clip_root(extracted)
        if root is None:
            raise FileNotFoundError(f"{extracted} holds none of the clip folders 0..f")
        return root

    def _items(self, root: epath.Path, folders: str, tags: dict[str, list[str]]) -> Iterator[Item]:
        for folder in folders:
            for rel in find_files(root / folder, (".mp3",)):
                relpath = f"{folder}/{rel}"
                yield relpath, os.path.join(root, relpath), {"tags": tags.get(relpath, [])}
