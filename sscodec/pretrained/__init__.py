"""Named models: inference bundles shipped inside the package, found by name.

  Codec.load("speech_cpu_24khz")          # a name: searched in SSCODEC_MODELS, then here
  Codec.load("bundles/tiny")              # a path to a bundle folder works as before

Each model is a bundle folder `sscodec/pretrained/<name>/` (written by `sscodec ship`: the
`sscodec export` files plus MODEL_CARD.md, eval.json and the data's PROVENANCE.md). The
environment variable SSCODEC_MODELS names more folders of bundles (several separated by
os.pathsep); they are searched first, so a user or a test can add or replace models without
touching the package. Only os and json here: listing models imports no JAX.
"""

from __future__ import annotations

import json
import os
import re

DEFAULT_MODEL = "speech_cpu_24khz"  # what `sscodec compress` / `decompress` use without --model
ENV_VAR = "SSCODEC_MODELS"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def search_dirs() -> list[str]:
    """The folders searched for named bundles, in order: SSCODEC_MODELS's, then the package's."""
    extra = [d for d in os.environ.get(ENV_VAR, "").split(os.pathsep) if d]
    return [os.path.abspath(os.path.expanduser(d)) for d in extra] + [PACKAGE_DIR]


def is_bundle(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "manifest.json"))


def available() -> dict[str, str]:
    """Name -> bundle folder of every named model; the first folder holding a name wins."""
    models: dict[str, str] = {}
    for folder in search_dirs():
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in entries:
            path = os.path.join(folder, name)
            if NAME_PATTERN.match(name) and name not in models and is_bundle(path):
                models[name] = path
    return models


def is_name(text: str) -> bool:
    """Whether `text` reads as a model name rather than a path (no separators, no dots first)."""
    return bool(NAME_PATTERN.match(text)) and os.sep not in text and "/" not in text


class UnknownModelError(ValueError):
    """No model of that name is installed (sscodec.codec.BundleError subclasses ValueError too)."""


def _where() -> str:
    extra = os.environ.get(ENV_VAR)
    return (f"searched {ENV_VAR}={extra} and {PACKAGE_DIR}" if extra
            else f"searched {PACKAGE_DIR}; set {ENV_VAR} to a folder of bundles to add models")


def resolve(model: str) -> str:
    """A bundle folder for `model`: an existing folder (a path) as given, else a model name
    looked up in `search_dirs()`; raises UnknownModelError for an unknown name. Anything that
    is not a name (it has a separator) is returned unchanged, for the loader to report."""
    if os.path.isdir(model) or not is_name(model):
        return model
    models = available()
    if model in models:
        return models[model]
    names = ", ".join(models) if models else "none"
    raise UnknownModelError(f"no model named {model!r} (available: {names}; {_where()}); "
                            "--model also takes a bundle folder from `sscodec export`")


def default_model_error() -> str:
    """Why the default model cannot be used, and what to do instead."""
    models = available()
    names = ", ".join(models) if models else "none"
    return (f"the default model {DEFAULT_MODEL!r} is not installed: this copy of sscodec does "
            f"not ship it ({_where()}; available: {names}). Pass --model NAME or --model BUNDLE "
            "(a folder from `sscodec export` or `sscodec ship`)")


def name_for_hash(model_hash: bytes) -> str | None:
    """The name of an installed model whose manifest hash starts with `model_hash` (the 16 bytes
    an .ssc header carries), or None."""
    prefix = model_hash.hex()
    for name, path in available().items():
        try:
            with open(os.path.join(path, "manifest.json")) as f:
                if json.load(f).get("sha256", "").startswith(prefix):
                    return name
        except (OSError, ValueError):
            continue
    return None
