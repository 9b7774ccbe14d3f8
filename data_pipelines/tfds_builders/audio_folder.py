"""A folder of audio files of your own, given as manual_dir, as a TFDS dataset.

Top-level sub-folders name the splits: train (or training), validation (or valid, dev) and test
(or eval); files outside them are left out. Without such folders every file goes to `train`. Any
file soundfile reads counts (.wav .flac .ogg .oga .mp3 .aif .aiff .opus). A folder named speech,
music or noise anywhere in a file's path gives its `kind`.

Each folder needs its own data_dir, as the dataset is always called `audio_folder`:

    prepare("audio_folder", data_dir="/data/tfds/my_noises", manual_dir="/data/my_noises")
"""

from __future__ import annotations

import os
from typing import Iterator

import tensorflow_datasets as tfds
from etils import epath

from data_pipelines.audio_io import AUDIO_EXTENSIONS
from data_pipelines.manifest import SPLITS, labels_from_path
from data_pipelines.tfds_builders.common import AudioBuilder, Item, find_files, manual_dir

DESCRIPTION = "A local folder of audio files, split by its train/validation/test sub-folders."


def split_folders(root: str | os.PathLike) -> dict[str, list[str]]:
    """{split: the top-level sub-folders of `root` that name it}; {"train": [""]} (the whole
    folder) when none does."""
    found: dict[str, list[str]] = {}
    for name in sorted(os.listdir(root)):
        if name.lower() in SPLITS and os.path.isdir(os.path.join(root, name)):
            found.setdefault(SPLITS[name.lower()], []).append(name)
    return found or {"train": [""]}


class AudioFolder(AudioBuilder):
    """Files of a local folder: `audio`, `sample_rate` (each file's own), `id` (the path below the
    folder) and `kind` ("speech", "music", "noise" or "")."""

    name = "audio_folder"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: int16 mono audio, splits and kinds from folders."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Required: manual_dir is the folder to read, with train/validation/test sub-folders or not.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self._audio_info(DESCRIPTION, "", kind=tfds.features.Text())

    def _split_items(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Iterator[Item]]:
        root = manual_dir(dl_manager)
        if root is None:
            raise FileNotFoundError("audio_folder reads the folder given as manual_dir, which is "
                                    "missing or empty")
        return {split: self._items(root, folders) for split, folders in split_folders(root).items()}

    def _items(self, root: epath.Path, folders: list[str]) -> Iterator[Item]:
        for folder in folders:
            for rel in find_files(root / folder, AUDIO_EXTENSIONS):
                relpath = f"{folder}/{rel}" if folder else rel
                kind, _ = labels_from_path(relpath)
                yield relpath, os.path.join(root, relpath), {"kind": kind}
