"""Checks that a codec bundle is what its manifest says, before any part of it is used.

A bundle is a folder (`sscodec export` / `sscodec ship`): manifest.json, params.safetensors,
config.json, the serialized encode/decode functions and, optionally, entropy.safetensors. Bundles
come from strangers (downloads, shared models), so `Codec.load` trusts none of it: the manifest's
fields must have their types and ranges, the content hash (sha256 over params, config and entropy
tables, the identity an `.ssc` stream carries) must match the files, every tensor must have the
shape and dtype the exported functions were traced with (no missing or extra ones), the functions
must code the manifest's frame size and quantizer count, and the entropy tables must cover the
manifest's quantizers and codes. Any lie is a BundleError naming it, and nothing is half-loaded.
Needs only numpy, hashlib and jax (no sscodec model code), like `sscodec.codec`.
"""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np

from sscodec.codec import bitstream

ENTROPY_FILE = "entropy.safetensors"
HASHED = ("params.safetensors", "config.json")  # then ENTROPY_FILE when the bundle has one
FILMS = ("none", "encoder", "decoder")
SEP = "/"


class BundleError(ValueError):
    """A bundle is missing, damaged, inconsistent or of an unsupported format."""


def content_hash(folder: str, has_entropy_tables: bool) -> str:
    """The model's identity: sha256 over params, config and (if any) entropy tables."""
    digest = hashlib.sha256()
    for name in HASHED + ((ENTROPY_FILE,) if has_entropy_tables else ()):
        with open(os.path.join(folder, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _int_field(manifest: dict, key: str, low: int, high: int) -> int:
    value = manifest.get(key)
    if type(value) is not int or not low <= value <= high:  # bool is not an int here
        raise BundleError(f"manifest.json: {key} must be an integer in {low}..{high}, "
                          f"got {value!r}")
    return value


def check_manifest(manifest: dict) -> None:
    """Types, ranges and internal consistency of the manifest's fields."""
    if not isinstance(manifest, dict):
        raise BundleError("manifest.json does not hold a JSON object")
    if not re.fullmatch(r"[0-9a-f]{64}", str(manifest.get("sha256"))):
        raise BundleError(f"manifest.json: sha256 must be 64 hex digits, got "
                          f"{manifest.get('sha256')!r}")
    _int_field(manifest, "sample_rate", bitstream.MIN_RATE, bitstream.MAX_RATE)
    _int_field(manifest, "frame_size", 1, 2 ** 16 - 1)
    _int_field(manifest, "num_quantizers", 1, 255)
    bits = _int_field(manifest, "bits_per_code", 1, 16)
    if _int_field(manifest, "codebook_size", 2, 2 ** 16) != 2 ** bits:
        raise BundleError(f"manifest.json: codebook_size {manifest['codebook_size']} is not "
                          f"2 ** bits_per_code ({2 ** bits})")
    if "channels" in manifest:  # bundles from before channels are mono
        _int_field(manifest, "channels", 1, bitstream.MAX_CHANNELS)
    if manifest.get("film", "none") not in FILMS:
        raise BundleError(f"manifest.json: film must be one of {FILMS}, got {manifest['film']!r}")
    if manifest.get("entropy_tables") not in (None, ENTROPY_FILE):
        raise BundleError(f"manifest.json: entropy_tables must be {ENTROPY_FILE!r} or null, got "
                          f"{manifest['entropy_tables']!r}")
    if manifest.get("params_dtype", "float32") not in ("float32", "float16"):
        raise BundleError(f"manifest.json: params_dtype {manifest['params_dtype']!r} is not "
                          "float32 or float16")


def flatten(tree, prefix: str = "") -> dict:
    """Nested dicts -> {"a/b/c": leaf}: how params.safetensors names the weights."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}{SEP}{key}" if prefix else key))
    return out


def unflatten(flat: dict) -> dict:
    """{"a/b/c": leaf} -> nested dicts (the inverse of `flatten`)."""
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(SEP)
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def check_weights(flat: dict[str, np.ndarray], functions: dict) -> None:
    """Every tensor has the shape and dtype each exported function expects; none is missing or
    extra. `flat`: the tensors as the functions will get them (float16 already widened)."""
    import jax
    for name, exported in functions.items():
        args, _ = jax.tree.unflatten(exported.in_tree, exported.in_avals)
        expected = flatten(args[0])
        missing, extra = sorted(set(expected) - set(flat)), sorted(set(flat) - set(expected))
        if missing or extra:
            raise BundleError(f"params.safetensors does not fit {name}.jax: "
                              f"missing {missing[:3]}, unexpected {extra[:3]}")
        for key, aval in expected.items():
            got = flat[key]
            if tuple(got.shape) != tuple(aval.shape) or got.dtype != aval.dtype:
                raise BundleError(f"params.safetensors: {key} is {got.dtype}{list(got.shape)}, "
                                  f"{name}.jax expects {aval.dtype}{list(aval.shape)}")


def _audio_fits(shape, frame: int, channels: int) -> bool:
    """An exported function's audio is [1, frame * f] (mono) or [1, frame * f, channels]."""
    return (len(shape) == (2 if channels == 1 else 3)
            and str(shape[1]).replace(" ", "") in (f"{frame}*f", f"f*{frame}")
            and (channels == 1 or shape[2] == channels))


def check_functions(functions: dict, manifest: dict) -> None:
    """The exported functions code the manifest's frame size, audio channels and number of
    quantizers."""
    import jax
    frame, num_q = manifest["frame_size"], manifest["num_quantizers"]
    channels = manifest.get("channels", 1)
    audio = f"audio of {frame} samples per frame" + (f" in {channels} channels"
                                                     if channels > 1 else "")
    for name, exported in functions.items():
        args, _ = jax.tree.unflatten(exported.in_tree, exported.in_avals)
        data = args[2] if name.endswith("_stream") else args[1]  # stream functions take a state
        if name.startswith("encode"):
            ok, what = _audio_fits(data.shape, frame, channels), audio
        else:
            ok = data.shape[-1] == num_q
            what = f"{num_q} quantizers"
        if not ok:
            raise BundleError(f"{name}.jax does not take {what} as manifest.json says "
                              f"(its input: {data})")
        out = exported.out_avals[0]  # the decoders' audio (then a stream state)
        if name.startswith("decode") and not _audio_fits(out.shape, frame, channels):
            raise BundleError(f"{name}.jax does not give {audio} as manifest.json says "
                              f"(its output: {out})")


def check_entropy_tables(tables, manifest: dict) -> None:
    want = (manifest["num_quantizers"], manifest["codebook_size"])
    if tuple(tables.counts.shape) != want:
        raise BundleError(f"{ENTROPY_FILE} holds tables of shape {tuple(tables.counts.shape)}, "
                          f"the manifest needs {want}")
