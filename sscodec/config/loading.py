"""Loading experiment files (`get_config()`), `--config.KEY=VALUE` overrides, and configs read
back from a run's config.json."""

from __future__ import annotations

import ast
import importlib.util
import os
from typing import Sequence

from sscodec.config.checks import validate
from sscodec.config.schema import ConfigDict, ConfigError, default_config

def dotted_items(tree: dict, prefix: str = "") -> dict:
    """A nested config (as a dict) as {"model.encoder_channels": 16, ...}: the keys that
    `--config.KEY=VALUE` takes."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(dotted_items(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def load_config(spec: str, overrides: Sequence[str] = ()) -> ConfigDict:
    """Loads `path/to/file.py` (calling its `get_config()`), applies overrides and validates."""
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"config file not found: {spec}")
    module_spec = importlib.util.spec_from_file_location(
        f"sscodec_config_{abs(hash(os.path.abspath(spec)))}", spec)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError("get_config", f"{spec} defines no get_config()")
    config = module.get_config()
    apply_overrides(config, overrides)
    validate(config)
    return config


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, list) else value


def config_from_dict(values: dict) -> ConfigDict:
    """The config a run saved as JSON (config.json): lists become tuples where the schema has
    tuples; unknown keys raise ConfigError."""
    config = default_config()

    def fill(node: ConfigDict, items: dict, prefix: str) -> None:
        for key, value in items.items():
            if key not in node:
                raise ConfigError(f"{prefix}{key}", "unknown key")
            if isinstance(node[key], ConfigDict):
                fill(node[key], value, f"{prefix}{key}.")
                continue
            if isinstance(node[key], tuple) and isinstance(value, list):
                value = _as_tuples(value)
            with node.unlocked():
                node[key] = value

    fill(config, values, "")
    validate(config)
    return config


def load_sibling(this_file: str, name: str) -> ConfigDict:
    """For variant configs: the config of `name` in the same folder as `this_file`."""
    return load_config(os.path.join(os.path.dirname(os.path.abspath(this_file)), name))


def _parse_value(text: str, current):
    if isinstance(current, str):
        return text
    if isinstance(current, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"expected a boolean, got {text!r}")
    value = ast.literal_eval(text)
    if isinstance(current, float) and isinstance(value, int):
        value = float(value)
    if isinstance(current, tuple) and isinstance(value, (list, int)):
        value = tuple(value) if isinstance(value, list) else (value,)
    return value


def apply_overrides(config: ConfigDict, overrides: Sequence[str]) -> None:
    """Applies `KEY=VALUE` (or `--config.KEY=VALUE`) strings; unknown keys raise ConfigError."""
    for item in overrides:
        text = item[len("--config."):] if item.startswith("--config.") else item
        if "=" not in text:
            raise ConfigError(text, "an override must look like --config.KEY=VALUE")
        key, raw = text.split("=", 1)
        *parents, leaf = key.split(".")
        node = config
        for i, part in enumerate(parents):
            if part not in node or not isinstance(node[part], ConfigDict):
                raise ConfigError(".".join(parents[: i + 1]), "unknown key")
            node = node[part]
        if leaf not in node:
            raise ConfigError(key, f"unknown key (known here: {', '.join(sorted(node.keys()))})")
        try:
            value = _parse_value(raw, node[leaf])
            with node.unlocked():
                node[leaf] = value
        except (ValueError, TypeError, SyntaxError) as e:
            raise ConfigError(key, f"cannot set to {raw!r}: {e}") from None
