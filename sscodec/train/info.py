"""Static facts about a config: parameter counts, frame rate, latency, receptive field, bitrates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from ml_collections import ConfigDict

from sscodec.config import (audio_shape, bitrate_table, frame_rate, init_length,
                            samples_per_frame)
from sscodec.nn.discriminators import build_discriminators
from sscodec.nn.soundstream import build_generator


def _count(tree) -> int:
    return int(sum(x.size for x in jax.tree.leaves(tree)))


def encoder_receptive_field(config: ConfigDict) -> int:
    """Samples of past input (including the current one) that one encoder output can see."""
    m = config.model
    rf, jump = 1, 1
    rf += (m.first_kernel_size - 1) * jump
    for s in m.strides:
        for d in m.residual_dilations:
            rf += (m.residual_kernel_size - 1) * d * jump
        rf += (2 * s - 1) * jump
        jump *= s
    rf += (m.bottleneck_kernel_size - 1) * jump
    return rf


def model_info(config: ConfigDict) -> dict:
    """Everything `sscodec info` prints, as a JSON-ready dict (shapes only: nothing is allocated)."""
    m = samples_per_frame(config)
    audio = jnp.zeros(audio_shape(config, 1, init_length(config)))
    gen = jax.eval_shape(lambda: build_generator(config).init(
        {"params": jax.random.key(0)}, audio))
    disc = jax.eval_shape(lambda: build_discriminators(config).init(
        {"params": jax.random.key(0)}, audio))["params"]
    q = config.quantizer
    params = {
        "encoder": _count(gen["params"]["encoder"]),
        "decoder": _count(gen["params"]["decoder"]),
        "film": _count(gen["params"].get("film_layer", {})),
    }
    if "quantizer" in gen["params"]:  # factorized codes: codebooks and projections are trained
        params["quantizer_trainable"] = _count(gen["params"]["quantizer"])
    else:  # EMA codebooks: state, not parameters
        params["quantizer_codebooks"] = q.num_quantizers * q.codebook_size * config.model.embedding_dim
    for top, sub in disc.items():
        if top == "stft":
            params["stft_discriminator"] = _count(sub)
        else:  # "wave" (scale0..2), "ms_stft" (window...), "mpd_mrd" (period..., window...)
            prefix = "wave_discriminator" if top == "wave" else top
            params.update({f"{prefix}_{name}": _count(part) for name, part in sub.items()})
    params["generator_trainable"] = (params["encoder"] + params["decoder"] + params["film"]
                                     + params.get("quantizer_trainable", 0))
    params["discriminators_total"] = _count(disc)
    rf = encoder_receptive_field(config)
    return {
        "sample_rate": config.sample_rate,
        "channels": config.model.channels,
        "samples_per_frame": m,
        "frame_rate_hz": frame_rate(config),
        "latency_ms": 1000.0 * m / config.sample_rate,
        "receptive_field_samples": rf,
        "receptive_field_ms": 1000.0 * rf / config.sample_rate,
        "num_quantizers": q.num_quantizers,
        "codebook_size": q.codebook_size,
        "bits_per_frame_max": q.num_quantizers * (q.codebook_size.bit_length() - 1),
        "parameters": params,
        "bitrates": [{"n_q": n, "kbps": round(k, 6)} for n, k in bitrate_table(config)],
    }


def format_info(info: dict) -> str:
    """A human-readable rendering of `model_info`."""
    p = info["parameters"]
    lines = [
        f"sample rate        {info['sample_rate']} Hz"
        + (f", {info['channels']} channels coded jointly" if info["channels"] > 1 else ""),
        f"samples per frame  {info['samples_per_frame']}  ({info['frame_rate_hz']:g} Hz)",
        f"latency            {info['latency_ms']:.2f} ms (one frame)",
        f"receptive field    {info['receptive_field_samples']} samples "
        f"({info['receptive_field_ms']:.1f} ms) per encoder output",
        f"quantizer          {info['num_quantizers']} x {info['codebook_size']} codes",
        "parameters:",
    ]
    lines += [f"  {k:<28} {v / 1e6:9.3f} M" for k, v in p.items()]
    lines.append("bitrates:  " + ", ".join(f"n_q={b['n_q']}: {b['kbps']:g} kbps"
                                           for b in info["bitrates"]))
    return "\n".join(lines)
