"""What the model's geometry implies: samples per frame, frame rate, bits per code, and the
table of bitrates against quantizer counts."""

from __future__ import annotations

import math

from sscodec.config.schema import ConfigDict, ConfigError

def samples_per_frame(config: ConfigDict) -> int:
    """M, the product of the encoder strides (320 for 2, 4, 5, 8)."""
    return math.prod(int(s) for s in config.model.strides)


def init_length(config: ConfigDict) -> int:
    """The shortest input (whole frames) that builds every parameter: it must cover the STFT
    discriminators' windows. Parameter shapes do not depend on length, so init compiles fast."""
    m = samples_per_frame(config)
    return -(-max(discriminator_window(config), m) // m) * m


def audio_shape(config: ConfigDict, batch: int, length: int) -> tuple[int, ...]:
    """A batch of audio: [batch, length] for a mono model, [batch, length, C] for C channels."""
    channels = config.model.channels
    return (batch, length) if channels == 1 else (batch, length, channels)


def discriminator_window(config: ConfigDict) -> int:
    """The longest STFT window of the configured discriminators (`discriminator.kind`)."""
    d = config.discriminator
    return {"ms_stft": lambda: max(d.ms_stft_windows),
            "mpd_mrd": lambda: max(d.mrd_windows)}.get(d.kind, lambda: d.stft_window)()


def frame_rate(config: ConfigDict) -> float:
    """Codec frames per second (75 Hz at 24 kHz with M = 320)."""
    return config.sample_rate / samples_per_frame(config)


def bits_per_code(config: ConfigDict) -> int:
    return int(math.log2(config.quantizer.codebook_size))


def kbps_for_num_quantizers(config: ConfigDict, n_q: int) -> float:
    """Bitrate of the first n_q quantizers: frame_rate * n_q * log2(N) / 1000."""
    if not 1 <= n_q <= config.quantizer.num_quantizers:
        raise ConfigError("quantizer.num_quantizers",
                          f"n_q={n_q} outside 1..{config.quantizer.num_quantizers}")
    return frame_rate(config) * n_q * bits_per_code(config) / 1000.0


def num_quantizers_for_kbps(config: ConfigDict, kbps: float) -> int:
    """The n_q that gives `kbps` exactly; raises naming the available bitrates otherwise."""
    per_quantizer = frame_rate(config) * bits_per_code(config) / 1000.0
    n_q = round(kbps / per_quantizer)
    if abs(n_q * per_quantizer - kbps) > 1e-6 or not 1 <= n_q <= config.quantizer.num_quantizers:
        available = ", ".join(f"{kbps_for_num_quantizers(config, i):g}"
                              for i in range(1, config.quantizer.num_quantizers + 1))
        raise ValueError(f"{kbps} kbps is not available; this model offers: {available} kbps")
    return n_q


def bitrate_table(config: ConfigDict) -> list[tuple[int, float]]:
    """[(n_q, kbps)] for every n_q of the model."""
    return [(i, kbps_for_num_quantizers(config, i))
            for i in range(1, config.quantizer.num_quantizers + 1)]
