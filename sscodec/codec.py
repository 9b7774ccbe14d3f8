"""`Codec`: load an exported bundle and encode / decode audio. Needs jax, numpy and safetensors
(soxr only to resample); no flax, optax, orbax, grain or tfds, and no sscodec model code: the
encoder and decoder run from the bundle's serialized StableHLO.

  codec = Codec.load("bundle/")
  codes = codec.encode(audio, sample_rate, kbps=6)   # int32 [frames, n_q]
  audio = codec.decode(codes)                        # float32 at codec.sample_rate
"""

from __future__ import annotations

import json
import os

from sscodec.runtime import choose_platforms

choose_platforms()  # before JAX picks a backend: no TPU probing where there is none

import jax  # noqa: E402
import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

BUNDLE_FORMAT = 1


class BundleError(ValueError):
    """A bundle is missing, damaged or of an unsupported format."""


def _unflatten(flat: dict[str, np.ndarray]) -> dict:
    tree: dict = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


class Codec:
    """An exported SoundStream: offline encode and decode of mono audio."""

    def __init__(self, manifest: dict, weights: dict, encode_fn, decode_fn):
        self.manifest = manifest
        self.sample_rate = int(manifest["sample_rate"])
        self.frame_size = int(manifest["frame_size"])
        self.num_quantizers = int(manifest["num_quantizers"])
        self.bits_per_code = int(manifest["bits_per_code"])
        self.model_hash = bytes.fromhex(manifest["sha256"])[:16]
        self._weights = weights
        self._encode = jax.jit(encode_fn)
        self._decode = jax.jit(decode_fn)

    @classmethod
    def load(cls, path: str) -> "Codec":
        try:
            with open(os.path.join(path, "manifest.json")) as f:
                manifest = json.load(f)
            if manifest.get("format_version") != BUNDLE_FORMAT:
                raise BundleError(f"{path}: bundle format {manifest.get('format_version')} is "
                                  f"not supported (this reader: {BUNDLE_FORMAT})")
            weights = _unflatten(load_file(os.path.join(path, "params.safetensors")))
            with open(os.path.join(path, "encode.jax"), "rb") as f:
                encode = jax.export.deserialize(bytearray(f.read()))
            with open(os.path.join(path, "decode.jax"), "rb") as f:
                decode = jax.export.deserialize(bytearray(f.read()))
        except (OSError, KeyError, ValueError) as e:
            if isinstance(e, BundleError):
                raise
            raise BundleError(f"cannot load codec bundle {path!r}: {type(e).__name__}: {e}") from None
        return cls(manifest, weights, encode.call, decode.call)

    # ------------------------------------------------------------------ bitrates

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.frame_size

    @property
    def bitrates(self) -> list[float]:
        """kbps of every n_q from 1 to N_q."""
        return [self.frame_rate * n * self.bits_per_code / 1000
                for n in range(1, self.num_quantizers + 1)]

    def num_quantizers_for(self, kbps: float | None) -> int:
        if kbps is None:
            return self.num_quantizers
        for n, rate in enumerate(self.bitrates, 1):
            if abs(rate - kbps) < 1e-6:
                return n
        raise ValueError(f"{kbps} kbps is not available; this model offers "
                         f"{', '.join(f'{r:g}' for r in self.bitrates)} kbps")

    # ------------------------------------------------------------------ coding

    def _prepare(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        x = np.asarray(audio, np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        if x.ndim != 1:
            raise ValueError(f"audio must be [T] or [T, channels], got shape {x.shape}")
        if sample_rate != self.sample_rate:
            import soxr
            x = soxr.resample(x, sample_rate, self.sample_rate).astype(np.float32)
        return x

    def encode(self, audio: np.ndarray, sample_rate: int, kbps: float | None = None) -> np.ndarray:
        """Audio [T] or [T, C] at `sample_rate` -> int32 codes [frames, n_q]; the input is
        padded to whole frames (decode returns frames x frame_size samples)."""
        n_q = self.num_quantizers_for(kbps)
        x = self._prepare(audio, sample_rate)
        frames = max(1, -(-len(x) // self.frame_size))
        x = np.pad(x, (0, frames * self.frame_size - len(x)))
        codes = self._encode(self._weights, x[None])
        return np.asarray(codes)[0, :, :n_q].astype(np.int32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Codes [frames, n_q] (any n_q up to N_q) -> float32 audio [frames * frame_size]."""
        codes = np.asarray(codes, np.int32)
        if codes.ndim != 2 or not 1 <= codes.shape[1] <= self.num_quantizers:
            raise ValueError(f"codes must be [frames, n_q] with n_q <= {self.num_quantizers}, "
                             f"got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= 2 ** self.bits_per_code):
            raise ValueError(f"codes must lie in [0, {2 ** self.bits_per_code})")
        full = np.zeros((codes.shape[0], self.num_quantizers), np.int32)
        full[:, : codes.shape[1]] = codes
        audio = self._decode(self._weights, full[None], np.int32(codes.shape[1]))
        return np.asarray(audio, np.float32)[0]
