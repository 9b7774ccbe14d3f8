"""LibriTTS (openslr.org/60): read English speech at 24 kHz with its text, as a TFDS dataset.

Configs pick the training subsets: `clean100` (train-clean-100, ~54 h), `clean460` (plus
train-clean-360, ~245 h) and `all` (plus train-other-500, ~555 h; validation and test then add
dev-other and test-other). Validation is dev-clean and test is test-clean otherwise.

Each subset is taken from manual_dir when it is there, extracted (`LibriTTS/<subset>/...` or
`<subset>/...`) or as its archive `<subset>.tar.gz`; the others are downloaded from openslr.org.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterator

import tensorflow_datasets as tfds
from etils import epath

from data_pipelines.tfds_builders.common import (AudioBuilder, Item, extract, find_files,
                                                manual_dir)

URL = "https://www.openslr.org/resources/60/"
HOMEPAGE = "https://www.openslr.org/60/"
DESCRIPTION = ("LibriTTS: multi-speaker English read speech at 24 kHz from LibriVox audiobooks, "
               "one example per utterance with its normalized text.")


@dataclasses.dataclass(eq=False)
class LibrittsConfig(tfds.core.BuilderConfig):
    """The LibriTTS subsets that make up each split."""

    train: tuple[str, ...] = ()
    validation: tuple[str, ...] = ("dev-clean",)
    test: tuple[str, ...] = ("test-clean",)

    @property
    def splits(self) -> dict[str, tuple[str, ...]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def _locate(root: epath.Path, subset: str) -> epath.Path | None:
    """`root`/LibriTTS/`subset` or `root`/`subset`, whichever is a folder (None if neither)."""
    return next((d for d in (root / "LibriTTS" / subset, root / subset) if d.is_dir()), None)


def _read_text(path: str) -> str:
    if not os.path.isfile(path):
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class Libritts(AudioBuilder):
    """LibriTTS utterances: `audio`, `sample_rate` (24000), `id`
    (`<subset>/<speaker>/<chapter>/<speaker>_<chapter>_<utterance>`) and `text` ("" if missing)."""

    name = "libritts"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: int16 mono audio, normalized text."}
    BUILDER_CONFIGS = [
        LibrittsConfig(name="clean100", description="train-clean-100 (~54 h)",
                       train=("train-clean-100",)),
        LibrittsConfig(name="clean460", description="train-clean-100 + train-clean-360 (~245 h)",
                       train=("train-clean-100", "train-clean-360")),
        LibrittsConfig(name="all", description="all three train subsets (~555 h), clean + other "
                       "dev and test",
                       train=("train-clean-100", "train-clean-360", "train-other-500"),
                       validation=("dev-clean", "dev-other"), test=("test-clean", "test-other")),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Optional. Put the subsets the config needs in manual_dir, either extracted
    (manual_dir/LibriTTS/train-clean-100/... or manual_dir/train-clean-100/...) or as the archives
    from {URL} (manual_dir/train-clean-100.tar.gz, ...). Missing subsets are downloaded.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self._audio_info(DESCRIPTION, HOMEPAGE, text=tfds.features.Text())

    def _split_items(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Iterator[Item]]:
        manual = manual_dir(dl_manager)
        return {split: self._items([self._subset_dir(s, manual, dl_manager) for s in subsets])
                for split, subsets in self.builder_config.splits.items()}

    def _subset_dir(self, subset: str, manual: epath.Path | None,
                    dl_manager: tfds.download.DownloadManager) -> epath.Path:
        """The extracted folder of `subset`: from manual_dir if there, else downloaded."""
        if manual is not None and (found := _locate(manual, subset)):
            return found
        if manual is not None and (manual / f"{subset}.tar.gz").is_file():
            archive = manual / f"{subset}.tar.gz"
        else:
            archive = dl_manager.download(f"{URL}{subset}.tar.gz")
        root = extract(archive, dl_manager)
        found = _locate(root, subset)
        if found is None:
            raise FileNotFoundError(f"the {subset} archive extracted to {root} holds no "
                                    f"LibriTTS/{subset} folder")
        return found

    def _items(self, subset_dirs: list[epath.Path]) -> Iterator[Item]:
        for subset_dir in subset_dirs:
            for rel in find_files(subset_dir, (".wav",)):
                path = os.path.join(subset_dir, rel)
                text = _read_text(path[: -len(".wav")] + ".normalized.txt")
                yield f"{subset_dir.name}/{rel}", path, {"text": text}
