"""Residual vector quantizer with factorized, L2-normalized codes learned by gradient (DAC's).

Kumar et al. 2023 (DAC, arXiv 2306.06546, §3.2, after ViT-VQGAN): each stage projects its residual
to a low-dimensional space (`code_dim`, 8 in DAC), L2-normalizes it and looks up the code of
highest cosine similarity among L2-normalized codebook rows, then projects the unit-norm code
back. Codebooks are parameters trained by a codebook loss (no EMA, no k-means, no dead-code
replacement): DAC reports better codebook usage and quality than EMA codebooks.

Here the looked-up code is the normalized codebook row itself (ViT-VQGAN's form), so every
code the decoder sees has unit norm; DAC's own code (dac/nn/quantize.py) looks up with normalized
vectors but passes the raw row, whose norm is learned, and compares it with the raw projection.
Ours compares the code with the normalized projection: the codebook loss
|sg(z) - q|^2 moves the codebook, the commitment loss |z - sg(q)|^2 (weight 0.25, DAC's) the
encoder. The straight-through estimate runs inside each stage (z + sg(q - z)), so the input
projection learns from the reconstruction, and the residual passed on is the stage's output,
as in DAC's ResidualVectorQuantize.

Same interface as rvq.ResidualVectorQuantizer (encode, decode, initialize_codebooks, __call__
with the same aux). Its `quantizer` collection holds only "initialized" (always True: nothing to
k-means); an exported bundle adds "codebook", every code's decoder-side vector
(`expanded_codebook`), so that decoding a bundle is the same sum of table rows as for EMA codes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn import partitioning
from sscodec.nn.rvq import COLLECTION, code_perplexity, residual_encode

COMMITMENT = 0.25  # DAC's weight of the commitment term against the codebook term (1.0)


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, -1, keepdims=True), eps))


def _stacked(init_axes):  # fan-in along the second-to-last axis, one matrix per quantizer
    return nn.with_logical_partitioning(nn.initializers.variance_scaling(
        1.0, "fan_in", "truncated_normal", in_axis=-2, out_axis=-1, batch_axis=(0,)), init_axes)


class FactorizedResidualVQ(nn.Module):
    """Factorized RVQ over [B, S, D] embeddings (see the module docstring)."""

    num_quantizers: int
    codebook_size: int
    dim: int
    code_dim: int = 8

    def setup(self):
        nq, d, k = self.num_quantizers, self.dim, self.code_dim
        named = nn.with_logical_partitioning
        self.in_kernel = self.param("in_kernel", _stacked(("quantizers", "dense_in", "dense_out")),
                                    (nq, d, k))
        self.in_bias = self.param("in_bias", named(nn.initializers.zeros_init(),
                                                   ("quantizers", "bias")), (nq, k))
        self.out_kernel = self.param("out_kernel",
                                     _stacked(("quantizers", "dense_in", "dense_out")), (nq, k, d))
        self.out_bias = self.param("out_bias", named(nn.initializers.zeros_init(),
                                                     ("quantizers", "bias")), (nq, d))
        self.codebook = self.param("codebook", named(nn.initializers.normal(1.0),
                                                     partitioning.CODEBOOK),
                                   (nq, self.codebook_size, k))
        self.initialized = self.variable(COLLECTION, "initialized",
                                         named(lambda: jnp.array(True), ()))

    # jnp.asarray: the parameters may come as numpy arrays (a restored checkpoint), which a traced
    # stage index cannot index.
    def _project_in(self, residual: jax.Array, i) -> jax.Array:
        return l2_normalize(residual @ jnp.asarray(self.in_kernel)[i] + jnp.asarray(self.in_bias)[i])

    def _project_out(self, code: jax.Array, i) -> jax.Array:
        return code @ jnp.asarray(self.out_kernel)[i] + jnp.asarray(self.out_bias)[i]

    def _lookup(self, z: jax.Array, i) -> tuple[jax.Array, jax.Array]:
        """(index of the highest cosine similarity, the unit-norm code) for unit-norm z [F, k]."""
        codebook = l2_normalize(jnp.asarray(self.codebook)[i])
        idx = jnp.argmax(z @ codebook.T, axis=-1).astype(jnp.int32)
        return idx, codebook[idx]

    def expanded_codebook(self) -> jax.Array:
        """[N_q, N, D]: each code's vector after the output projection (what the decoder adds)."""
        codes = l2_normalize(self.codebook)
        return jnp.einsum("qnk,qkd->qnd", codes, self.out_kernel) + self.out_bias[:, None, :]

    # ------------------------------------------------------------------ inference

    def encode(self, x: jax.Array, n_q: int | jax.Array | None = None) -> jax.Array:
        """Embeddings [B, S, D] -> int32 codes [B, S, n_q]; a traced n_q gives N_q columns, those
        from n_q on zero (as ResidualVectorQuantizer.encode)."""
        dynamic = n_q is not None and not isinstance(n_q, int)
        depth = self.num_quantizers if n_q is None or dynamic else n_q
        flat = x.reshape(-1, self.dim).astype(jnp.float32)

        def search(residual, i):
            idx, code = self._lookup(self._project_in(residual, i), i)
            return residual - self._project_out(code, i), idx

        return residual_encode(flat, search, depth, n_q if dynamic else None).reshape(
            x.shape[:-1] + (depth,))

    def decode(self, codes: jax.Array) -> jax.Array:
        """Codes [B, S, n] -> the sum of the first n stages' output vectors [B, S, D]."""
        n = codes.shape[-1]
        if self.has_variable(COLLECTION, "codebook"):  # an exported bundle's expanded table
            table = self.get_variable(COLLECTION, "codebook")[:n]
        else:
            table = self.expanded_codebook()[:n]
        return sum(table[i][codes[..., i]] for i in range(n))

    # ------------------------------------------------------------------ training

    def initialize_codebooks(self, x: jax.Array) -> None:
        """Nothing to do: the codebooks are parameters, initialized with the others."""
        del x
        self.initialized.value = jnp.array(True)

    def __call__(self, x: jax.Array, n_q: jax.Array | None = None, train: bool = False):
        """Quantizes x [B, S, D] with the first n_q[b] stages for example b; returns (quantized,
        aux) as ResidualVectorQuantizer, aux["commit_loss"] being the codebook loss plus 0.25 x
        the commitment loss, summed over stages and averaged over frames."""
        del train  # no statistics to update
        batch, frames, _ = x.shape
        flat = x.astype(jnp.float32).reshape(-1, self.dim)
        if n_q is None:
            n_q = jnp.full((batch,), self.num_quantizers, jnp.int32)
        frame_nq = jnp.repeat(n_q, frames)

        def stage(residual, i):
            z = self._project_in(residual, i)
            idx, code = self._lookup(jax.lax.stop_gradient(z), i)
            active = (i < frame_nq).astype(jnp.float32)
            codebook_loss = jnp.mean(jnp.square(jax.lax.stop_gradient(z) - code), -1)
            commitment = jnp.mean(jnp.square(z - jax.lax.stop_gradient(code)), -1)
            loss = jnp.sum((codebook_loss + COMMITMENT * commitment) * active)
            out = self._project_out(z + jax.lax.stop_gradient(code - z), i)
            hits = jax.nn.one_hot(idx, self.codebook_size, dtype=jnp.float32)
            used = jnp.mean((hits.sum(0) > 0).astype(jnp.float32))
            return residual - out, (idx, out * active[:, None], loss, used,
                                    code_perplexity(active @ hits))

        _, (idx, q, loss, used, perplexity) = jax.lax.scan(
            stage, flat, jnp.arange(self.num_quantizers))
        aux = {
            "codes": idx.T.reshape(batch, frames, self.num_quantizers),
            "commit_loss": loss.sum() / flat.shape[0],
            "codebook_usage": jnp.mean(used),
            "dead_codes_replaced": jnp.zeros((), jnp.float32),
            "perplexity": perplexity,
        }
        return q.sum(0).reshape(x.shape).astype(x.dtype), aux
