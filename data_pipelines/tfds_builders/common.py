"""Shared parts of the audio builders: the features, decoding, and skipping unreadable files.

Every builder stores `audio` (int16 [T], mono, at the file's native rate), `sample_rate` (int32) and
`id` (the file's path below the corpus root, without extension), plus its own labels. Files that
cannot be decoded, hold no samples or hold non-finite samples are skipped with a warning and listed
per split in `builder.info.metadata["skipped"]` as [id, reason] pairs (saved in metadata.json).

Nothing here needs TensorFlow: the audio is a plain int16 tensor (`tfds.features.Audio` would need
it), archives are unpacked here rather than by `dl_manager.extract`, and the builders write
array_record files, read back with `tfds.data_source`.
"""

from __future__ import annotations

import abc
import inspect
import logging
import os
import shutil
import tarfile
import zipfile
from typing import Any, Iterable, Iterator

import numpy as np
import soundfile as sf
import tensorflow_datasets as tfds
from etils import epath

from data_pipelines.audio_io import AudioReadError

log = logging.getLogger(__name__)

Item = tuple[str, str, dict[str, Any]]  # (path below the corpus root, path on disk, extra features)
Example = tuple[str, dict[str, Any]]  # (key, features)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16, rounded and clipped."""
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def load_int16(path: str) -> tuple[np.ndarray, int]:
    """A whole file as int16 mono (channels averaged) and its sample rate; raises AudioReadError."""
    try:
        x, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for bad input
        raise AudioReadError(f"{type(e).__name__}: {e}") from None
    if x.size == 0:
        raise AudioReadError("no samples")
    if not np.isfinite(x).all():
        raise AudioReadError("non-finite samples")
    return to_int16(x.mean(axis=1)), int(rate)


def find_files(root: str | os.PathLike, extensions: tuple[str, ...]) -> list[str]:
    """Files below `root` whose names end with one of `extensions` (any case), as sorted
    '/'-separated paths relative to `root`; none when `root` does not exist."""
    found = []
    for dirpath, _, names in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        found += [os.path.normpath(os.path.join(rel, n)).replace(os.sep, "/")
                  for n in names if n.lower().endswith(extensions)]
    return sorted(found)


def extract(archive: epath.Path, dl_manager: tfds.download.DownloadManager) -> epath.Path:
    """Unpacks a tar (any compression) or zip archive into downloads/extracted/<archive name>,
    once: a complete earlier extraction is reused. (`dl_manager.extract` needs TensorFlow.)"""
    root = dl_manager.download_dir / "extracted"
    dest, partial = root / archive.name, root / f"{archive.name}.incomplete"
    if dest.is_dir():
        return dest
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log.info("extracting %s to %s", archive, dest)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(partial)
    else:
        with tarfile.open(archive) as t:
            t.extractall(partial, filter="data")
    os.replace(partial, dest)
    return dest


def manual_dir(dl_manager: tfds.download.DownloadManager) -> epath.Path | None:
    """The manual directory, or None when it was not given, does not exist or is empty."""
    try:
        return dl_manager.manual_dir
    except AssertionError:
        return None


class AudioBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the audio builders: a subclass lists the files of each split in `_split_items`."""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls) -> epath.Path:
        """The builder's source file. TFDS's own lookup needs `importlib_resources`, which is only
        installed along with etils' epath extra; for a module on disk it gives this same path."""
        return epath.Path(inspect.getfile(cls))

    def _audio_info(self, description: str, homepage: str,
                    **extra: tfds.features.FeatureConnector) -> tfds.core.DatasetInfo:
        features = {
            "audio": tfds.features.Tensor(shape=(None,), dtype=np.int16),
            "sample_rate": tfds.features.Scalar(dtype=np.int32),
            "id": tfds.features.Text(),
            **extra,
        }
        return tfds.core.DatasetInfo(builder=self, description=description, homepage=homepage,
                                     features=tfds.features.FeaturesDict(features),
                                     metadata=tfds.core.MetadataDict())

    @abc.abstractmethod
    def _split_items(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Iterable[Item]]:
        """{split: the items to store}; fetches or extracts what the splits need."""

    def _split_generators(self, dl_manager: tfds.download.DownloadManager
                          ) -> dict[str, Iterator[Example]]:
        skipped = self.info.metadata.setdefault("skipped", {})
        generators = {}
        for split, items in self._split_items(dl_manager).items():
            skipped[split] = []
            generators[split] = self._generate_examples(items, skipped[split])
        return generators

    def _generate_examples(self, items: Iterable[Item], skipped: list[list[str]]
                           ) -> Iterator[Example]:
        """One example per readable file, keyed by its relative path; the others go to `skipped`."""
        for relpath, path, extra in items:
            file_id = os.path.splitext(relpath)[0]
            try:
                audio, rate = load_int16(path)
            except AudioReadError as e:
                log.warning("%s: skipping %s: %s", self.name, path, e)
                skipped.append([file_id, str(e)])
                continue
            yield relpath, {"audio": audio, "sample_rate": rate, "id": file_id, **extra}
