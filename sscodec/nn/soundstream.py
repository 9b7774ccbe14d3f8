"""The SoundStream generator: causal encoder -> (FiLM) -> RVQ -> (FiLM) -> causal decoder.

Audio is [B, T] for a mono model and [B, T, C] for a C-channel one (`model.channels`, time
first, as the convs compute). The channels are coded jointly, as EnCodec's 48 kHz stereo model
does: the encoder's first conv takes all C channels, one RVQ codes the joint embedding and the
decoder's last conv gives C channels, so the bitrate does not grow with C and what the channels
share (most of a stereo signal) is coded once.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import linen as nn
from ml_collections import ConfigDict

from sscodec.nn.conv import ConvStyle
from sscodec.nn.factorized_vq import FactorizedResidualVQ
from sscodec.nn.istft_decoder import IstftDecoder
from sscodec.nn.rvq import ResidualVectorQuantizer
from sscodec.nn.seanet import Decoder, Encoder, FiLM


class SoundStream(nn.Module):
    """Audio [B, T] (or [B, T, C]) -> reconstruction of the same shape; T is padded to whole
    frames and trimmed back."""

    encoder: Encoder
    quantizer: ResidualVectorQuantizer | FactorizedResidualVQ
    decoder: Decoder | IstftDecoder
    film: str = "none"
    quantizer_dropout: bool = True
    dropout_share: float = 1.0  # the share of examples that draw a depth; the rest use all N_q
    channels: int = 1  # audio channels: 1 takes and gives [B, T], C > 1 [B, T, C]

    def setup(self):
        if self.film != "none":
            self.film_layer = FiLM()

    @property
    def frame_size(self) -> int:
        return math.prod(self.encoder.strides)

    def _pad(self, audio: jax.Array) -> jax.Array:
        """[B, T] or [B, T, C] -> [B, T', C] with T' whole frames."""
        if audio.ndim != (2 if self.channels == 1 else 3) or (
                self.channels > 1 and audio.shape[-1] != self.channels):
            want = "[B, T]" if self.channels == 1 else f"[B, T, {self.channels}]"
            raise ValueError(f"a {self.channels}-channel model takes audio {want}, got {audio.shape}")
        x = audio if audio.ndim == 3 else audio[..., None]
        pad = (-x.shape[1]) % self.frame_size
        return jnp.pad(x, ((0, 0), (0, pad), (0, 0)))

    def _condition(self, x, denoise, where):
        if self.film != where:
            return x
        if denoise is None:
            denoise = jnp.zeros((x.shape[0],), jnp.int32)
        return self.film_layer(x, denoise)

    def embed(self, audio: jax.Array, denoise: jax.Array | None = None) -> jax.Array:
        """Audio [B, T] (or [B, T, C]) -> embeddings [B, ceil(T / M), D] (after encoder-side FiLM)."""
        return self._condition(self.encoder(self._pad(audio)), denoise, "encoder")

    def synthesize(self, emb: jax.Array, denoise: jax.Array | None = None) -> jax.Array:
        """Quantized embeddings [B, S, D] -> audio [B, S * M] (or [B, S * M, C])."""
        audio = self.decoder(self._condition(emb, denoise, "decoder"))
        return audio[..., 0] if self.channels == 1 else audio

    def encode(self, audio: jax.Array, n_q: int | None = None,
               denoise: jax.Array | None = None) -> jax.Array:
        """Audio [B, T] (or [B, T, C]) -> int32 codes [B, frames, n_q]."""
        return self.quantizer.encode(self.embed(audio, denoise), n_q)

    def decode(self, codes: jax.Array, denoise: jax.Array | None = None) -> jax.Array:
        """Codes [B, frames, n] -> audio [B, frames * M] (or [B, frames * M, C])."""
        return self.synthesize(self.quantizer.decode(codes), denoise)

    def initialize_codebooks(self, audio: jax.Array, denoise: jax.Array | None = None) -> None:
        """k-means init of the RVQ codebooks from this audio's embeddings (see
        ResidualVectorQuantizer.initialize_codebooks); `quantizer` mutable, its rng given."""
        self.quantizer.initialize_codebooks(self.embed(audio, denoise))

    def __call__(self, audio: jax.Array, denoise: jax.Array | None = None, train: bool = False,
                 n_q: int | None = None):
        """Full codec pass. While training with quantizer dropout, n_q ~ U{1..N_q} per example
        (for a `dropout_share` of the examples; the others use all N_q)."""
        batch, length = audio.shape[:2]
        emb = self.embed(audio, denoise)
        num = self.quantizer.num_quantizers
        if train and self.quantizer_dropout:
            per_example = jax.random.randint(self.make_rng("dropout"), (batch,), 1, num + 1)
            if self.dropout_share < 1.0:  # a second key only here: share 1.0 draws as before
                drawn = jax.random.bernoulli(self.make_rng("dropout"), self.dropout_share, (batch,))
                per_example = jnp.where(drawn, per_example, num)
        else:
            per_example = jnp.full((batch,), num if n_q is None else n_q, jnp.int32)
        quantized, aux = self.quantizer(emb, per_example, train=train)
        out = self.synthesize(quantized, denoise)[:, :length]
        return out, {**aux, "n_q": per_example}


def build_generator(config: ConfigDict, dtype=None, streaming: bool = False) -> SoundStream:
    """The SoundStream generator described by `config.model` and `config.quantizer`, computing in
    `dtype` (None: the parameters' float32); the RVQ always computes in float32. `streaming`:
    encode / decode take whole-frame chunks and carry the convolutions' context between calls
    in the "stream" variable collection (same parameters as the offline model)."""
    m, q = config.model, config.quantizer
    common = dict(residual_kernel_size=m.residual_kernel_size,
                  residual_dilations=tuple(m.residual_dilations),
                  residual_compress=m.residual_compress, first_kernel_size=m.first_kernel_size,
                  dtype=dtype, remat=m.remat, streaming=streaming,
                  style=ConvStyle(m.conv_init, m.weight_norm, m.activation))
    encoder = Encoder(m.encoder_channels, tuple(m.strides), m.embedding_dim,
                      bottleneck_kernel_size=m.bottleneck_kernel_size, **common)
    if m.decoder == "istft":  # at the frame rate, as wide as the SEANet decoder's bottleneck
        decoder = IstftDecoder(m.decoder_channels * 2 ** len(m.strides), tuple(m.strides),
                               overlap=m.istft_overlap, out_channels=m.channels, **common)
    else:
        decoder = Decoder(m.decoder_channels, tuple(m.strides),
                          last_kernel_size=m.last_kernel_size, out_channels=m.channels, **common)
    if q.codes == "factorized":
        quantizer = FactorizedResidualVQ(q.num_quantizers, q.codebook_size, m.embedding_dim,
                                         q.code_dim)
    else:
        quantizer = ResidualVectorQuantizer(q.num_quantizers, q.codebook_size, m.embedding_dim,
                                            ema_decay=q.ema_decay,
                                            dead_code_threshold=q.dead_code_threshold,
                                            kmeans_iters=q.kmeans_iters, epsilon=q.epsilon,
                                            expected_usage_threshold=q.dead_code_usage_fraction)
    return SoundStream(encoder, quantizer, decoder, film=m.film, quantizer_dropout=q.dropout,
                       dropout_share=q.dropout_share, channels=m.channels)
