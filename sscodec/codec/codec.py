"""`Codec`: load an exported bundle and encode / decode audio, offline or streaming. Needs jax,
numpy and safetensors (soxr to resample, constriction for entropy-coded streams); no
flax, optax, orbax, grain or tfds, and no sscodec model code: the encoder and decoder run from
the bundle's serialized StableHLO.

  codec = Codec.load("bundle/")                      # or a name: Codec.load("speech_cpu_24khz")
  codes = codec.encode(audio, sample_rate, kbps=6)   # int32 [frames, n_q]
  audio = codec.decode(codes)                        # float32 at codec.sample_rate
  encoder, decoder = codec.stream_encoder(kbps=6), codec.stream_decoder()
  for chunk in chunks:                               # any sizes; codes equal offline's
      play(decoder.push(encoder.push(chunk)))

Channels: audio is [T] for a mono model and [T, C] (time first, soundfile's layout) for a
C-channel one (`codec.channels`, e.g. 2 for a stereo model). A mono model mixes [T, C] input down;
a C-channel model duplicates mono ([T] or [T, 1]) input into every channel and refuses other
channel counts. Codes are [frames, n_q] either way: one set of codes carries all channels.
"""

from __future__ import annotations

import collections.abc
import functools
import hashlib
import json
import os

from sscodec.platforms import choose_platforms

choose_platforms()  # before JAX picks a backend: no TPU probing where there is none

import jax  # noqa: E402
import numpy as np  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from sscodec.codec import bundle_checks  # noqa: E402
from sscodec.codec.bundle_checks import BundleError  # noqa: E402,F401 - part of this module's API
from sscodec.codec.executables import CompiledFunction, write_file  # noqa: E402
from sscodec.codec.streaming import (BLOCK_FRAMES, FrameStep, StreamDecoder,  # noqa: E402
                                     StreamEncoder, zero_state)

BUNDLE_FORMAT = 2
# 3: params.safetensors may hold float16 tensors (manifest "params_dtype"), read back as float32.
# 4: a multi-channel model (manifest "channels" > 1): its functions take and give [1, T, C].
BUNDLE_FORMATS = (2, 3, 4)
OFFLINE_FRAMES = 1500  # 20 s at 75 Hz: longer inputs are coded in blocks (bounded memory, progress)
MIN_BUCKET, TOP_BUCKET = 16, 1536  # offline lengths run padded to 16, 32, ..., 1024 or 1536 frames


def _bucket(frames: int) -> int:
    """The padded length an offline call of `frames` runs at. Compiled code (in memory and in
    the persistent compilation cache) is per shape, so a few lengths serve every file; the
    encoder and decoder are causal, so what is padded at the end changes nothing before it."""
    bucket = MIN_BUCKET
    while bucket < frames:
        bucket *= 2
    return min(bucket, TOP_BUCKET)


_FUNCTIONS = ("encode", "decode", "encode_stream", "decode_stream")


class _BundleFunctions(collections.abc.Mapping):
    """A bundle's exported functions by name, each deserialized when first used. `key` is a
    digest of the manifest and the function files (the manifest's sha256 covers the rest): it
    names this exact bundle in the executable cache."""

    def __init__(self, path: str):
        self._path, self._loaded = path, {}

    @functools.cached_property
    def key(self) -> str:  # read only where there is a cache to name
        digest = hashlib.sha256()
        for name in ("manifest.json",) + tuple(f"{n}.jax" for n in _FUNCTIONS):
            with open(os.path.join(self._path, name), "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest())
        return digest.hexdigest()

    def __getitem__(self, name: str):
        if name not in self._loaded:
            if name not in _FUNCTIONS:
                raise KeyError(name)
            with open(os.path.join(self._path, f"{name}.jax"), "rb") as f:
                self._loaded[name] = jax.export.deserialize(bytearray(f.read()))
        return self._loaded[name]

    def __iter__(self):
        return iter(_FUNCTIONS)

    def __len__(self) -> int:
        return len(_FUNCTIONS)


class Codec:
    """An exported SoundStream: encode and decode of audio ([T] mono or [T, C]), offline and
    streaming."""

    def __init__(self, manifest: dict, weights: dict, functions: dict, entropy_tables=None,
                 executable_cache: str | None = None):
        self.manifest = manifest
        self.sample_rate = int(manifest["sample_rate"])
        self.frame_size = int(manifest["frame_size"])
        self.num_quantizers = int(manifest["num_quantizers"])
        self.bits_per_code = int(manifest["bits_per_code"])
        self.film = manifest.get("film", "none")
        self.channels = int(manifest.get("channels", 1))  # bundles before channels: mono
        self.model_hash = bytes.fromhex(manifest["sha256"])[:16]
        self.name = manifest.get("name")  # set for models made by `sscodec ship`
        self.path: str | None = None  # the bundle folder, when loaded from one
        self._config: dict | None = None  # its config.json, when loaded from one
        self.entropy_tables = entropy_tables  # sscodec.codec.entropy.EntropyTables or None
        self._weights = jax.device_put(weights)  # once, not on every call
        self._functions = functions
        self._frame_steps: dict[tuple, FrameStep] = {}  # sscodec.codec.streaming's one-frame steps
        key = getattr(functions, "key", manifest["sha256"]) if executable_cache else None
        self._encode, self._decode, self._encode_step, self._decode_step = (
            CompiledFunction(lambda name=name: functions[name], name, key, executable_cache)
            for name in _FUNCTIONS)

    @functools.cached_property
    def _initial_states(self) -> dict:
        # Committed to the device like the states the steps return: an uncommitted first state
        # would compile every step function twice.
        return {name: jax.device_put(zero_state(self._functions[f"{name}_stream"]),
                                     jax.devices()[0])
                for name in ("encode", "decode")}

    def _frame_step(self, kind: str, n_q: int, denoise: int, kernels: str = "xla") -> FrameStep:
        """The one-frame step of `kind` ("encode" / "decode") for streams of this n_q, denoise
        switch and `kernels` (KERNELS), compiled on first use and shared by every stream
        (sscodec.codec.streaming)."""
        key = (kind, n_q, denoise, kernels)
        if key not in self._frame_steps:
            exported = self._functions[f"{kind}_stream"]
            if kernels == "xla":
                step = FrameStep(exported, self._weights, n_q, denoise)
            else:
                function, conv = self._native_step(kind, KERNELS[kernels])
                step = FrameStep(exported, self._weights, n_q, denoise, function, conv)
            self._frame_steps[key] = step
        return self._frame_steps[key]

    def _native_step(self, kind: str, weights_dtype: str):
        """(step function, kernels): the bundle's stream step of `kind` traced anew from its
        config.json with sscodec's native kernels (sscodec.codec.native_conv.stream_step)."""
        from sscodec.codec import native_conv
        if self._config is None:
            raise ValueError("native kernels rebuild the model from the bundle's config.json: "
                             "load the codec from a bundle folder that has one (Codec.load)")
        return native_conv.stream_step(self._config, kind, weights_dtype, self.num_quantizers)

    @classmethod
    def load(cls, model: str, executable_cache: str | None = None) -> "Codec":
        """Loads a bundle: a folder from `sscodec export` / `sscodec ship`, or the name of an
        installed model (sscodec.pretrained: SSCODEC_MODELS, then the package's models).
        `executable_cache`: a folder that keeps the compiled functions for later processes
        (sscodec.codec.executables; the CLI uses platforms.cache_dir())."""
        from sscodec import pretrained
        try:
            path = pretrained.resolve(model)
        except pretrained.UnknownModelError as e:
            raise BundleError(str(e)) from None
        try:
            with open(os.path.join(path, "manifest.json")) as f:
                manifest = json.load(f)
            if not isinstance(manifest, dict) or manifest.get("format_version") not in BUNDLE_FORMATS:
                version = manifest.get("format_version") if isinstance(manifest, dict) else None
                raise BundleError(f"bundle format {version} is not supported (this reader: "
                                  f"{', '.join(map(str, BUNDLE_FORMATS))}); export the run "
                                  "again with this version of sscodec")
            bundle_checks.check_manifest(manifest)
            has_tables = bool(manifest.get("entropy_tables"))
            if bundle_checks.content_hash(path, has_tables) != manifest["sha256"]:
                raise BundleError("the files do not match the manifest's sha256 (changed or "
                                  "damaged after export)")
            # float16-stored tensors (format 3) run as float32, as the functions were exported
            flat = {k: v.astype(np.float32) if v.dtype == np.float16 else v
                    for k, v in load_file(os.path.join(path, "params.safetensors")).items()}
            functions = _BundleFunctions(path)
            # The checks below read every function (deserializing them costs ~0.16 s); a bundle
            # whose exact files passed them on this machine before is not checked again.
            checked = (os.path.join(executable_cache, functions.key, "checked")
                       if executable_cache else None)
            if not (checked and os.path.exists(checked)):
                bundle_checks.check_functions(functions, manifest)
                bundle_checks.check_weights(flat, functions)
                if checked:
                    write_file(checked, b"")
            weights = bundle_checks.unflatten(flat)
            tables = None
            if has_tables:
                from sscodec.codec.entropy import load_tables
                tables = load_tables(os.path.join(path, bundle_checks.ENTROPY_FILE))
                bundle_checks.check_entropy_tables(tables, manifest)
        except BundleError as e:
            raise BundleError(f"cannot load codec bundle {path!r}: {e}") from None
        except Exception as e:  # noqa: BLE001 - any damage (safetensors, flatbuffers, JSON)
            raise BundleError(f"cannot load codec bundle {path!r}: {type(e).__name__}: {e}") from None
        codec = cls(manifest, weights, functions, tables, executable_cache)
        codec.path = os.path.abspath(path)
        config_file = os.path.join(path, "config.json")
        if os.path.exists(config_file):  # what native kernels rebuild the model from
            with open(config_file) as f:
                codec._config = json.load(f)
        return codec

    def parameter_counts(self) -> dict[str, int]:
        """Parameters of the encoder, decoder and FiLM layer (no codebooks, as in Table I)."""
        params = self._weights["params"]
        counts = {part: sum(x.size for x in jax.tree.leaves(params.get(part, {})))
                  for part in ("encoder", "decoder", "film_layer")}
        return counts | {"total": sum(counts.values())}

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

    def _channels(self, audio: np.ndarray) -> np.ndarray:
        """[T] or [T, C'] -> what the model takes: [T] (mono model: C' mixed down) or
        [T, channels] (C' = channels, or a mono input duplicated)."""
        x = np.asarray(audio, np.float32)
        if x.ndim not in (1, 2):
            raise ValueError(f"audio must be [T] or [T, channels], got shape {x.shape}")
        if self.channels == 1:
            return x.mean(axis=1) if x.ndim == 2 else x
        if x.ndim == 1 or x.shape[1] == 1:
            return np.repeat(x.reshape(len(x), 1), self.channels, axis=1)
        if x.shape[1] != self.channels:
            raise ValueError(f"this model codes {self.channels} channels (or mono, duplicated); "
                             f"got audio of {x.shape[1]} channels")
        return x

    def _prepare(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        x = self._channels(audio)
        if sample_rate != self.sample_rate:
            import soxr
            x = soxr.resample(x, sample_rate, self.sample_rate).astype(np.float32)
        return x

    def _check_codes(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.ndim != 2 or not 1 <= codes.shape[1] <= self.num_quantizers:
            raise ValueError(f"codes must be [frames, n_q] with n_q <= {self.num_quantizers}, "
                             f"got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= 2 ** self.bits_per_code):
            raise ValueError(f"codes must lie in [0, {2 ** self.bits_per_code})")
        return codes.astype(np.int32)

    def _all_columns(self, codes: np.ndarray) -> np.ndarray:
        """Codes [frames, n_q] -> [1, frames, N_q], zeros after n_q (the decoder ignores them)."""
        full = np.zeros((1, len(codes), self.num_quantizers), np.int32)
        full[0, :, : codes.shape[1]] = codes
        return full

    def _denoise(self, denoise: bool) -> np.ndarray:
        if denoise and self.film == "none":
            raise ValueError("this model was not trained to denoise (model.film is 'none')")
        return np.int32(bool(denoise))

    def encode(self, audio: np.ndarray, sample_rate: int, kbps: float | None = None,
               denoise: bool = False, progress: bool = False) -> np.ndarray:
        """Audio [T] or [T, C] at `sample_rate` -> int32 codes [frames, n_q] (channels as in
        the module docstring); the input is padded to whole frames (decode returns frames x
        frame_size samples). `denoise` asks a
        denoising model (model.film) to remove noise. Inputs over OFFLINE_FRAMES are coded
        block by block (same codes, bounded memory), with a progress bar if `progress`."""
        n_q = self.num_quantizers_for(kbps)
        x = self._prepare(audio, sample_rate)
        frames = max(1, -(-len(x) // self.frame_size))
        x = _pad_time(x, frames * self.frame_size - len(x))
        if frames > OFFLINE_FRAMES:
            encoder = StreamEncoder(self, n_q, denoise)
            step = BLOCK_FRAMES * self.frame_size
            blocks = range(0, len(x), step)
            if progress:
                blocks = _progress(blocks, frames / self.frame_rate, step / self.sample_rate, "encode")
            return np.concatenate([encoder.push(x[i: i + step]) for i in blocks])
        x = _pad_time(x, (_bucket(frames) - frames) * self.frame_size)
        codes = self._encode(self._weights, x[None], np.int32(n_q), self._denoise(denoise))
        return np.asarray(codes)[0, :frames, :n_q].astype(np.int32)

    def decode(self, codes: np.ndarray, denoise: bool = False,
               progress: bool = False) -> np.ndarray:
        """Codes [frames, n_q] (any n_q up to N_q) -> float32 audio [frames * frame_size], or
        [frames * frame_size, channels] for a multi-channel model."""
        codes = self._check_codes(codes)
        if len(codes) > OFFLINE_FRAMES:
            decoder = StreamDecoder(self, denoise)
            blocks = range(0, len(codes), BLOCK_FRAMES)
            if progress:
                blocks = _progress(blocks, len(codes) / self.frame_rate,
                                   BLOCK_FRAMES / self.frame_rate, "decode")
            return np.concatenate([decoder.push(codes[i: i + BLOCK_FRAMES]) for i in blocks])
        frames = len(codes)
        padded = np.pad(codes, ((0, _bucket(frames) - frames), (0, 0)))
        audio = self._decode(self._weights, self._all_columns(padded), np.int32(codes.shape[1]),
                             self._denoise(denoise))
        return np.asarray(audio, np.float32)[0, : frames * self.frame_size]

    # ------------------------------------------------------------------ streaming

    def stream_encoder(self, kbps: float | None = None, denoise: bool = False,
                       kernels: str = "xla") -> "StreamEncoder":
        """A streaming encoder of audio at `sample_rate`: push chunks of any size, get the codes
        of every frame completed so far (one frame of latency); equal to `encode`'s codes.

        `kernels` (one of KERNELS) picks what runs pushes of one to three frames (live calls):
        "xla" the bundle's exported step; "native" / "native-bf16" sscodec's own conv kernel
        with float32 / bfloat16 weights (x86-64 with AVX-512 and a C++ compiler; faster for
        large models, but codes may differ from `encode`'s in near ties, and bfloat16 weights
        change the audio slightly: sscodec.codec.native_conv)."""
        return StreamEncoder(self, self.num_quantizers_for(kbps), denoise, _kernels(kernels))

    def stream_decoder(self, denoise: bool = False, kernels: str = "xla") -> "StreamDecoder":
        """A streaming decoder: push codes [k, n_q], get k * frame_size samples at once.
        `kernels`: as in stream_encoder."""
        return StreamDecoder(self, denoise, _kernels(kernels))


KERNELS = {"xla": None, "native": "float32", "native-bf16": "bfloat16"}


def _kernels(kernels: str) -> str:
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {tuple(KERNELS)}, not {kernels!r}")
    return kernels


def _pad_time(x: np.ndarray, count: int) -> np.ndarray:
    """[T] or [T, C] with `count` zero samples appended."""
    return np.pad(x, [(0, count)] + [(0, 0)] * (x.ndim - 1))


def _progress(blocks, seconds: float, seconds_per_block: float, what: str):
    from tqdm import tqdm
    # disable=None: a bar on a terminal only, never in pipes or logs
    with tqdm(total=round(seconds), unit="s", desc=what, leave=False, disable=None) as bar:
        for count, i in enumerate(blocks, 1):
            yield i
            bar.update(min(round(count * seconds_per_block), bar.total) - bar.n)
