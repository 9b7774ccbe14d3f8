"""Data specs: how a config names a dataset (light to import: no audio, Grain or TFDS code).

A dataset is named by one spec string:

  embedded                      the corpus in data_pipelines/embedded (read from its manifest)
  path/to/folder                every audio file below it (scanned once at start-up)
  path/to/manifest.jsonl        a manifest written by `sscodec data index`
  tfds:NAME[/CONFIG]:SPLIT      a prepared TFDS dataset (array_record), e.g. tfds:libritts/clean100:train

`config.data.train` holds one spec or a mixture: a list of {spec, weight, kinds, kind} entries
(parsed by sscodec.config.mixture, so that a config is checked without importing the data code).
"""

from __future__ import annotations

import dataclasses
import os

from sscodec.config import SPEC_FORMS  # the grammar's one-line summary, shared with config checks

EMBEDDED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "embedded")


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed data spec: form is 'folder', 'manifest' or 'tfds'."""

    form: str
    path: str = ""
    name: str = ""
    split: str = ""

    def __str__(self) -> str:
        return f"tfds:{self.name}:{self.split}" if self.form == "tfds" else self.path


def parse_spec(spec: str) -> Spec:
    """Parses a spec string; raises ValueError (bad form) or FileNotFoundError (missing path)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a data spec must be a non-empty string: {SPEC_FORMS}; got {spec!r}")
    if spec.startswith("tfds:"):
        parts = spec[len("tfds:"):].split(":")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"TFDS specs look like tfds:NAME[/CONFIG]:SPLIT, got {spec!r}")
        return Spec("tfds", name=parts[0], split=parts[1])
    if spec == "embedded":
        return Spec("manifest", path=os.path.join(EMBEDDED_DIR, "manifest.jsonl"))
    path = os.path.abspath(os.path.expanduser(spec))
    if os.path.isdir(path):
        return Spec("folder", path=path)
    if os.path.isfile(path):
        if not path.endswith(".jsonl"):
            raise ValueError(f"{spec!r} is a file but not a .jsonl manifest; a spec is {SPEC_FORMS}")
        return Spec("manifest", path=path)
    raise FileNotFoundError(f"data not found: {spec!r} (a spec is {SPEC_FORMS})")
