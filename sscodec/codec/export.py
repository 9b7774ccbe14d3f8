"""Writing an inference bundle (a self-contained folder) from a config and generator weights.

  params.safetensors   generator parameters and RVQ codebooks (no pickle anywhere); float32, or
                       float16 with `params_dtype="float16"` (half the size; read back as float32)
  config.json          the run's full config
  manifest.json        format version, content hash, sample rate, audio channels, frame size,
                       quantizers, bits
  encode.jax / decode.jax   the encoder and decoder serialized by `jax.export` (StableHLO) with a
                       symbolic number of frames, so a bundle runs without sscodec's model code
  encode_stream.jax / decode_stream.jax   the same on one chunk, carrying the causal convs' state
  entropy.safetensors  per-quantizer code counts on training data: static rANS tables (optional)

`sscodec export` reads a run's checkpoint with sscodec.train.export and writes it here; so do
`sscodec ship` and the benchmarks (random weights). Loading a bundle (codec.py) needs only jax,
numpy and safetensors, not the model code this module traces.
"""

from __future__ import annotations

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import save_file

from sscodec.codec.bundle_checks import ENTROPY_FILE, SEP, content_hash, flatten, unflatten
from sscodec.config import audio_shape, bits_per_code, config_from_dict, samples_per_frame
from sscodec.nn.rvq import SQNORM
from sscodec.nn.soundstream import SoundStream, build_generator


FORMAT_VERSION = 2  # 2: streaming functions, denoise inputs, entropy tables
FLOAT16_FORMAT_VERSION = 3  # 3: float16 tensors in params.safetensors (older readers refuse it)
# 4: a multi-channel model, whose functions take and give [1, T, C] (older readers refuse it
# rather than feed it mono audio); mono bundles keep format 2 or 3.
CHANNELS_FORMAT_VERSION = 4
PARAMS_DTYPES = ("float32", "float16")


def _variables(weights: dict, stream: dict | None = None) -> dict:
    variables = {"params": weights["params"], "quantizer": weights["quantizer"]}
    return variables if stream is None else {**variables, "stream": stream}


def _embed_codes(weights: dict, codes: jax.Array, n_q: jax.Array) -> jax.Array:
    """Codes [1, frames, N_q] -> the sum of the first n_q quantizers' entries (later columns are
    ignored, so one exported function serves every bitrate)."""
    codebook = weights["quantizer"]["quantizer"]["codebook"]  # [N_q, N, D]
    depth = jnp.arange(codebook.shape[0])
    entries = jax.vmap(lambda cb, c: cb[c], in_axes=(0, -1), out_axes=0)(codebook, codes)
    return jnp.sum(jnp.where((depth < n_q)[:, None, None, None], entries, 0.0), axis=0)


def codec_functions(generator: SoundStream):
    """(encode, decode) as pure functions of (weights, inputs) for jax.export.

    encode(weights, audio [1, frames * M], n_q, denoise) -> codes [1, frames, N_q] (the first
    n_q columns; the search stops there). decode(weights, codes [1, frames, N_q], n_q, denoise)
    -> audio [1, frames * M]. A C-channel model's audio is [1, frames * M, C]. `denoise` (int32
    0/1) drives the FiLM layer of a denoising model and is ignored by others.
    """
    def encode(weights, audio, n_q, denoise):
        return generator.apply(_variables(weights), audio, n_q, denoise[None],
                               method=SoundStream.encode)

    def decode(weights, codes, n_q, denoise):
        return generator.apply(_variables(weights), _embed_codes(weights, codes, n_q),
                               denoise[None], method=SoundStream.synthesize)

    return encode, decode


def stream_functions(streamer: SoundStream):
    """(encode_step, decode_step): encode / decode of one chunk of whole frames that carry the
    causal convolutions' context in `state` (see nn.causal_conv.causal_context).

    encode_step(weights, state, audio [1, k * M], n_q, denoise) -> (codes [1, k, N_q], state)
    decode_step(weights, state, codes [1, k, N_q], n_q, denoise) -> (audio [1, k * M], state)
    """
    def encode_step(weights, state, audio, n_q, denoise):
        codes, new = streamer.apply(_variables(weights, state), audio, n_q, denoise[None],
                                    method=SoundStream.encode, mutable=["stream"])
        return codes, new["stream"]

    def decode_step(weights, state, codes, n_q, denoise):
        audio, new = streamer.apply(_variables(weights, state), _embed_codes(weights, codes, n_q),
                                    denoise[None], method=SoundStream.synthesize,
                                    mutable=["stream"])
        return audio, new["stream"]

    return encode_step, decode_step


def initial_stream_states(streamer: SoundStream, weights_spec: dict, frame_size: int,
                          num_quantizers: int, channels: int = 1) -> tuple[dict, dict]:
    """Shapes of the (encoder, decoder) stream states: what a first call creates."""
    scalar = jax.ShapeDtypeStruct((), jnp.int32)
    audio = jax.ShapeDtypeStruct((1, frame_size) if channels == 1 else (1, frame_size, channels),
                                 jnp.float32)
    codes = jax.ShapeDtypeStruct((1, 1, num_quantizers), jnp.int32)

    def first(method, *args):
        def run(weights, *args):
            return streamer.apply(_variables(weights), *args, method=method, mutable=["stream"])
        return jax.eval_shape(run, weights_spec, *args)[1]["stream"]

    enc = first(lambda m, a, d: m.encode(a, None, d[None]), audio, scalar)
    dec = first(lambda m, c, d: m.synthesize(m.quantizer.decode(c), d[None]), codes, scalar)
    return enc, dec


def inference_config(config):
    """The run's config as the bundle records it: float32 compute, no rematerialization."""
    config = config_from_dict(config.to_dict())
    config.train.compute_dtype = "float32"
    config.model.remat = False
    if config.discriminator.grouped_conv == "auto":
        config.discriminator.grouped_conv = "patches"
    return config


def initial_weights(config, seed: int = 0) -> dict:
    """Freshly initialized generator weights ({"params", "quantizer"}, numpy) of `config`'s
    model: an untrained bundle for speed measurements and tests."""
    from flax import linen as nn
    generator = build_generator(config)
    frame = samples_per_frame(config)
    audio = np.zeros(audio_shape(config, 1, 4 * frame), np.float32)
    variables = nn.unbox(generator.init(jax.random.key(seed), audio))
    return jax.tree.map(np.asarray, {"params": variables["params"],
                                     "quantizer": variables["quantizer"]})


def _float16_leaves(flat: dict[str, np.ndarray]) -> set[str]:
    """The float32 tensors stored as float16: all but the codebook norms (derived, searched in
    float32) and any whose values do not fit float16's range."""
    limit = float(np.finfo(np.float16).max)
    return {k for k, v in flat.items()
            if v.dtype == np.float32 and not k.endswith(SEP + SQNORM)
            and (v.size == 0 or float(np.max(np.abs(v))) <= limit)}


def write_bundle(config, weights: dict, out: str, step: int | None = None,
                 code_counts: np.ndarray | None = None, params_dtype: str = "float32") -> dict:
    """Serializes generator `weights` ({"params", "quantizer"} of `config`'s model) as a bundle
    at `out` (replaced atomically); `code_counts` [N_q, N] become its entropy tables.

    `params_dtype="float16"` stores the float32 tensors as float16 (about half the bundle; format
    3): the weights are rounded to float16 first, so the bundle's model (its hash, the codebook
    norms, every output) is exactly the rounded one that `Codec` runs in float32."""
    if params_dtype not in PARAMS_DTYPES:
        raise ValueError(f"params_dtype must be one of {PARAMS_DTYPES}, got {params_dtype!r}")
    frame = samples_per_frame(config)
    num_q = config.quantizer.num_quantizers
    half: set[str] = set()
    weights = jax.tree.map(np.asarray, weights)  # numpy leaves for safetensors
    if params_dtype == "float16":
        flat = flatten(weights)
        half = _float16_leaves(flat)
        weights = unflatten({k: v.astype(np.float16).astype(np.float32) if k in half else v
                              for k, v in flat.items()})
    rvq = dict(weights["quantizer"]["quantizer"])
    if config.quantizer.codes == "factorized":  # the decoder-side table _embed_codes sums
        rvq["codebook"] = np.asarray(build_generator(config).apply(
            _variables(weights), method=lambda g: g.quantizer.expanded_codebook()))
    rvq[SQNORM] = np.sum(np.square(rvq["codebook"], dtype=np.float32), axis=-1)
    weights = {"params": weights["params"], "quantizer": {**weights["quantizer"], "quantizer": rvq}}
    encode, decode = codec_functions(build_generator(config))
    streamer = build_generator(config, streaming=True)
    encode_step, decode_step = stream_functions(streamer)
    spec = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), weights)
    channels = config.model.channels
    enc_state, dec_state = initial_stream_states(streamer, spec, frame, num_q, channels)
    frames, = jax.export.symbolic_shape("f")
    audio = jax.ShapeDtypeStruct(audio_shape(config, 1, frames * frame), jnp.float32)
    codes = jax.ShapeDtypeStruct((1, frames, num_q), jnp.int32)
    scalar = jax.ShapeDtypeStruct((), jnp.int32)
    exported = {
        "encode.jax": jax.export.export(jax.jit(encode))(spec, audio, scalar, scalar),
        "decode.jax": jax.export.export(jax.jit(decode))(spec, codes, scalar, scalar),
        "encode_stream.jax": jax.export.export(jax.jit(encode_step))(
            spec, enc_state, audio, scalar, scalar),
        "decode_stream.jax": jax.export.export(jax.jit(decode_step))(
            spec, dec_state, codes, scalar, scalar),
    }

    tmp = f"{out}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_file({k: v.astype(np.float16) if k in half else v for k, v in flatten(weights).items()},
              os.path.join(tmp, "params.safetensors"))
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, default=list)
    if code_counts is not None:
        from sscodec.codec.entropy import EntropyTables, save_tables
        save_tables(EntropyTables.from_counts(code_counts), os.path.join(tmp, ENTROPY_FILE))
    for name, function in exported.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(function.serialize())
    version = (CHANNELS_FORMAT_VERSION if channels > 1
               else FLOAT16_FORMAT_VERSION if half else FORMAT_VERSION)
    manifest = {"format_version": version,
                "sha256": content_hash(tmp, code_counts is not None),
                "sample_rate": config.sample_rate, "channels": channels, "frame_size": frame,
                "num_quantizers": num_q, "codebook_size": config.quantizer.codebook_size,
                "bits_per_code": bits_per_code(config), "step": step,
                "film": config.model.film,
                "entropy_tables": ENTROPY_FILE if code_counts is not None else None}
    if half:
        manifest["params_dtype"] = "float16"
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return manifest
