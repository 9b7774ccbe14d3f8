"""`sscodec export`: a trained run -> a self-contained inference bundle (a folder).

  params.safetensors   generator parameters and RVQ codebooks (no pickle anywhere)
  config.json          the run's full config
  manifest.json        format version, content hash, sample rate, frame size, quantizers, bits
  encode.jax / decode.jax   the encoder and decoder serialized by `jax.export` (StableHLO) with a
                       symbolic number of frames, so a bundle runs without sscodec's model code

This module is training-side (it reads Orbax checkpoints); loading a bundle is sscodec.codec's job
and needs only jax, numpy and safetensors.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
from safetensors.numpy import save_file

from sscodec.checkpoint import Checkpointer, locate
from sscodec.config import bits_per_code, config_from_dict, samples_per_frame
from sscodec.nn.soundstream import SoundStream
from sscodec.train.state import abstract_state, build_models

FORMAT_VERSION = 1
SEP = "/"


def flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}{SEP}"))
        else:
            out[f"{prefix}{key}"] = np.asarray(value)
    return out


def codec_functions(generator: SoundStream):
    """(encode, decode) as pure functions of (weights, input) for jax.export.

    encode(weights, audio [1, frames * M]) -> codes [1, frames, N_q] (all quantizers: the first n
    codes do not depend on the later quantizers). decode(weights, codes [1, frames, N_q], n_q)
    sums the first n_q quantizers' entries (later columns are ignored) and synthesizes audio.
    """
    def variables(weights):
        return {"params": weights["params"], "quantizer": weights["quantizer"]}

    def encode(weights, audio):
        return generator.apply(variables(weights), audio, method=SoundStream.encode)

    def decode(weights, codes, n_q):
        codebook = weights["quantizer"]["quantizer"]["codebook"]  # [N_q, N, D]
        depth = jnp.arange(codebook.shape[0])
        entries = jax.vmap(lambda cb, c: cb[c], in_axes=(0, -1), out_axes=0)(codebook, codes)
        emb = jnp.sum(jnp.where((depth < n_q)[:, None, None, None], entries, 0.0), axis=0)
        return generator.apply(variables(weights), emb, method=SoundStream.synthesize)

    return encode, decode


def export_bundle(workdir: str, out: str, step: int | None = None) -> dict:
    """Writes the bundle of `workdir`'s checkpoint `step` (default: latest) to `out`."""
    with open(os.path.join(workdir, "config.json")) as f:
        config = config_from_dict(json.load(f))
    config.train.compute_dtype = "float32"
    if config.discriminator.grouped_conv == "auto":
        config.discriminator.grouped_conv = "patches"
    models = build_models(config)
    abstract = abstract_state(models, config)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                          {"gen_params": abstract["gen_params"], "quantizer": abstract["quantizer"]})
    directory, located = locate(workdir)
    source = Checkpointer(directory, read_only=True)
    try:
        weights = source.restore_weights(target, step if step is not None else located)
        saved_step = step if step is not None else (located or source.latest_step())
    finally:
        source.close()
    weights = {"params": weights["gen_params"], "quantizer": weights["quantizer"]}
    weights = jax.tree.map(np.asarray, weights)  # parameters are float32 whatever compute_dtype

    frame = samples_per_frame(config)
    encode, decode = codec_functions(models.generator)
    spec = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), weights)
    frames, = jax.export.symbolic_shape("f")
    enc = jax.export.export(jax.jit(encode))(
        spec, jax.ShapeDtypeStruct((1, frames * frame), jnp.float32))
    dec = jax.export.export(jax.jit(decode))(
        spec, jax.ShapeDtypeStruct((1, frames, config.quantizer.num_quantizers), jnp.int32),
        jax.ShapeDtypeStruct((), jnp.int32))

    tmp = f"{out}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    save_file(flatten(weights), os.path.join(tmp, "params.safetensors"))
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, default=list)
    for name, exported in (("encode.jax", enc), ("decode.jax", dec)):
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(exported.serialize())
    digest = hashlib.sha256()
    for name in ("params.safetensors", "config.json"):
        with open(os.path.join(tmp, name), "rb") as f:
            digest.update(f.read())
    manifest = {"format_version": FORMAT_VERSION, "sha256": digest.hexdigest(),
                "sample_rate": config.sample_rate, "frame_size": frame,
                "num_quantizers": config.quantizer.num_quantizers,
                "codebook_size": config.quantizer.codebook_size,
                "bits_per_code": bits_per_code(config), "step": saved_step,
                "film": config.model.film}
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return manifest
