"""TFDS builders for the codec's corpora; they write array_record files and need no TensorFlow.

Importing this package registers with TFDS:

  libritts[/clean100|/clean460|/all]  speech, 24 kHz, with text
  magnatagatune                       music, 16 kHz, with tags
  audio_folder                        a local folder (manual_dir); splits and kinds from its folders

Every example holds `audio` (int16 [T], mono, at the file's own rate), `sample_rate` (int32) and
`id` (its path below the corpus root, without extension). Prepare a dataset with `prepare`, then
read it with `tfds.data_source(NAME, split=..., data_dir=...)`, or train on it with the data spec
`tfds:NAME[/CONFIG]:SPLIT`. Unreadable files are skipped and listed in
`builder.info.metadata["skipped"]`.

`data_pipelines` itself does not import this package, so that importing it stays cheap.
"""

from __future__ import annotations

import logging

import tensorflow_datasets as tfds

from data_pipelines.tfds_builders.audio_folder import AudioFolder
from data_pipelines.tfds_builders.libritts import Libritts
from data_pipelines.tfds_builders.magnatagatune import Magnatagatune

log = logging.getLogger(__name__)

KIND = {"libritts": "speech", "magnatagatune": "music", "audio_folder": ""}


def kind_of(name: str) -> str:
    """The kind of audio ("speech", "music", "noise") in dataset `NAME[/CONFIG]`, "" if unknown."""
    return KIND.get(name.split("/", 1)[0], "")


def prepare(name: str, data_dir: str | None = None, manual_dir: str | None = None
            ) -> dict[str, int]:
    """Builds `NAME[/CONFIG]` as array_record files below `data_dir` (TFDS's default if None),
    reading the corpus from `manual_dir` where the builder allows; returns {split: examples}.

    A dataset already prepared there is kept as it is.
    """
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    builder.download_and_prepare(download_config=config)
    for split, skipped in (builder.info.metadata or {}).get("skipped", {}).items():
        if skipped:
            log.warning("%s %s: skipped %d unreadable files (listed in %s/metadata.json)",
                        name, split, len(skipped), builder.data_dir)
    return {split: info.num_examples for split, info in builder.info.splits.items()}


__all__ = ["AudioFolder", "KIND", "Libritts", "Magnatagatune", "kind_of", "prepare"]
