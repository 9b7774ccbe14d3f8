"""Residual vector quantizer with EMA codebooks, k-means init, dead-code replacement, dropout.

Codebooks and their statistics live in the `quantizer` variable collection, never in `params`:
they are updated by exponential moving averages, not by gradients. Every statistic is a sum over
all frames of the batch, so when the batch is sharded across devices `jit` reduces over the global
batch and every device holds the same codebooks (no hand-written all-reduce, no desync).

The k-means init is its own method (`initialize_codebooks`), run once before training as a
separate compiled program (sscodec.train.step.initialize_codebooks), so the train step carries
no k-means. A dead code's replacement is a frame of example `code mod batch`, at a random
position: each device draws from the examples it holds, and the rule does not depend on how the
batch is split, so 1 and 8 devices replace dead codes with the same frames.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from sscodec.nn import partitioning
from sscodec.nn.conv import current_conv_implementation

COLLECTION = "quantizer"
SQNORM = "codebook_sqnorm"  # inference only: squared norms of the codebook rows


def nearest_code(x: jax.Array, codebook: jax.Array, sqnorm: jax.Array | None = None) -> jax.Array:
    """Index of the nearest codebook row (squared Euclidean) for each row of x: [F, D] -> [F].
    `sqnorm`: the rows' squared norms, if known (saves a pass over the codebook)."""
    if sqnorm is None:
        sqnorm = jnp.sum(codebook * codebook, -1)
    dist = jnp.sum(x * x, -1, keepdims=True) - 2.0 * x @ codebook.T + sqnorm[None, :]
    return jnp.argmin(dist, axis=-1).astype(jnp.int32)


def code_perplexity(hits: jax.Array) -> jax.Array:
    """exp(entropy) of a code histogram [N]: the number of equally used codes it is worth
    (N for uniform use, 1 for a single code; its log2 is the bits a code actually carries)."""
    p = hits / jnp.maximum(hits.sum(), 1e-9)
    return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))


def residual_encode(flat: jax.Array, search, depth: int, traced_n_q: jax.Array | None = None
                    ) -> jax.Array:
    """Codes [F, depth] of frames [F, D] by `depth` stages of `search(residual, i) -> (residual
    after stage i, its codes [F])`. With a traced n_q the stages from n_q on are skipped (a cond)
    and give code 0, so one compiled function serves every bitrate."""

    def stage(residual, i):
        if traced_n_q is None:
            return search(residual, i)
        skip = lambda r: (r, jnp.zeros(r.shape[:1], jnp.int32))
        return jax.lax.cond(i < traced_n_q, lambda r: search(r, i), skip, residual)

    _, codes = jax.lax.scan(stage, flat, jnp.arange(depth))
    return codes.T


def kmeans_plusplus(x: jax.Array, key: jax.Array, num_clusters: int) -> jax.Array:
    """k-means++ seeding: each next seed is a data point drawn with probability ~ D(x)^2."""
    keys = jax.random.split(key, num_clusters)
    first = x[jax.random.randint(keys[0], (), 0, x.shape[0])]
    dist = jnp.sum(jnp.square(x - first), -1)

    def pick(dist, key):
        c = x[jax.random.categorical(key, jnp.log(dist + 1e-12))]
        return jnp.minimum(dist, jnp.sum(jnp.square(x - c), -1)), c

    _, rest = jax.lax.scan(pick, dist, keys[1:])
    return jnp.concatenate([first[None], rest])


def kmeans(x: jax.Array, key: jax.Array, num_clusters: int, iters: int):
    """Lloyd's k-means from k-means++ seeds; returns (centroids [K, D], counts [K])."""
    centroids = kmeans_plusplus(x, key, num_clusters)

    def step(c, _):
        onehot = jax.nn.one_hot(nearest_code(x, c), num_clusters, dtype=x.dtype)
        counts = onehot.sum(0)
        sums = onehot.T @ x
        return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1.0)[:, None], c), None

    centroids, _ = jax.lax.scan(step, centroids, None, length=iters)
    counts = jax.nn.one_hot(nearest_code(x, centroids), num_clusters, dtype=x.dtype).sum(0)
    return centroids, counts


def replacement_frames(x: jax.Array, key: jax.Array, num_codes: int) -> jax.Array:
    """One candidate frame per code from x [B, S, D]: code j gets a frame of example j mod B at a
    uniformly drawn position. A gather within each example, so a batch-sharded x is read where it
    lies (no device fetches another's frames) and the draw is the same for any sharding."""
    batch, frames, dim = x.shape
    rounds = -(-num_codes // batch)  # codes per example, rounded up
    positions = jax.random.randint(key, (batch, rounds), 0, frames)
    picked = jnp.take_along_axis(x, positions[..., None], axis=1)  # [B, rounds, D]
    return picked.transpose(1, 0, 2).reshape(rounds * batch, dim)[:num_codes]


class ResidualVectorQuantizer(nn.Module):
    """RVQ over [B, S, D] embeddings; `train=True` updates the codebooks (collection mutable)."""

    num_quantizers: int
    codebook_size: int
    dim: int
    ema_decay: float = 0.99
    dead_code_threshold: float = 2.0
    kmeans_iters: int = 10
    epsilon: float = 1e-5
    # A code is dead when its EMA usage (hits per step) falls below
    # min(dead_code_threshold, expected_usage_threshold * frames per step / codebook size): the
    # paper's 2 hits is 0.43 of the expected usage at its batch (16 x 4 s = 4,800 frames for
    # 1,024 codes); at 8 x 1 s (600 frames) a fixed 2 would call nearly every code dead.
    # 0 keeps the fixed threshold alone.
    expected_usage_threshold: float = 0.0

    def dead_code_rule(self, frames: int) -> tuple[float, float]:
        """(threshold, usage a replaced code restarts with) for `frames` frames per step.

        A replaced code restarts at the expected usage, not at the threshold: from there its
        EMA takes ~log(expected / threshold) / (1 - decay) steps to fall below the threshold
        again, time to be found by the encoder, where restarting at the threshold would mark an
        unlucky code dead again (and redraw it) on the very next step.
        """
        expected = frames / self.codebook_size
        threshold = self.dead_code_threshold
        if self.expected_usage_threshold > 0:
            threshold = min(threshold, self.expected_usage_threshold * expected)
        return threshold, max(expected, threshold)

    def setup(self):
        shape = (self.num_quantizers, self.codebook_size)
        named = nn.with_logical_partitioning
        self.codebook = self.variable(
            COLLECTION, "codebook", named(lambda: jax.random.normal(
                self.make_rng("params"), shape + (self.dim,)), partitioning.CODEBOOK))
        self.cluster_size = self.variable(COLLECTION, "cluster_size",
                                          named(lambda: jnp.zeros(shape), partitioning.CODE_STATS))
        self.embed_sum = self.variable(COLLECTION, "embed_sum", named(
            lambda: jnp.zeros(shape + (self.dim,)), partitioning.CODEBOOK))
        self.initialized = self.variable(COLLECTION, "initialized",
                                         named(lambda: jnp.array(False), ()))

    # ------------------------------------------------------------------ inference

    def encode(self, x: jax.Array, n_q: int | jax.Array | None = None) -> jax.Array:
        """Embeddings [B, S, D] -> int32 codes [B, S, n_q] (first n_q quantizers).

        A traced `n_q` (one compiled function for every bitrate) gives all N_q columns, those
        from n_q on zero, and skips the search of the stages it does not need.
        """
        dynamic = n_q is not None and not isinstance(n_q, int)
        depth = self.num_quantizers if n_q is None or dynamic else n_q
        flat = x.reshape(-1, self.dim).astype(jnp.float32)
        codebook = self.codebook.value[:depth]
        # An exported bundle stores the codebooks' squared norms (see export.write_bundle): a
        # one-frame streaming call is bound by reading the codebooks, and this halves it.
        if self.has_variable(COLLECTION, SQNORM):
            sqnorm = self.get_variable(COLLECTION, SQNORM)[:depth]
        else:
            sqnorm = jnp.sum(codebook * codebook, -1)

        fused = getattr(current_conv_implementation(), "residual_quantize", None)
        if fused is not None and not dynamic:  # an inference kernel's search, all stages at once
            return fused(flat, codebook, sqnorm).reshape(x.shape[:-1] + (depth,))

        def search(residual, i):
            # Indexed here, not scanned over: a scan slices every codebook (a 1 MB copy per
            # stage at the paper's size) even for the stages a lower bitrate skips.
            idx = nearest_code(residual, codebook[i], sqnorm[i])
            return residual - codebook[i][idx], idx

        return residual_encode(flat, search, depth, n_q if dynamic else None).reshape(
            x.shape[:-1] + (depth,))

    def decode(self, codes: jax.Array) -> jax.Array:
        """Codes [B, S, n] -> the sum of the first n quantizers' entries [B, S, D]."""
        n = codes.shape[-1]
        cb = self.codebook.value[:n]
        return sum(cb[i][codes[..., i]] for i in range(n))

    # ------------------------------------------------------------------ training

    def _kmeans_init(self, flat: jax.Array, key: jax.Array):
        def stage(residual, key):
            centroids, counts = kmeans(residual, key, self.codebook_size, self.kmeans_iters)
            residual = residual - centroids[nearest_code(residual, centroids)]
            return residual, (centroids, counts)

        keys = jax.random.split(key, self.num_quantizers)
        _, (codebook, counts) = jax.lax.scan(stage, flat, keys)
        return codebook, counts, codebook * counts[..., None]

    def initialize_codebooks(self, x: jax.Array) -> None:
        """k-means init of every stage's codebook from embeddings x [B, S, D] (stage i on the
        residual of stages < i), with EMA statistics as if each centroid had its cluster's
        hits. Uses the `quantizer` rng; the collection must be mutable."""
        flat = jax.lax.stop_gradient(x.astype(jnp.float32)).reshape(-1, self.dim)
        codebook, counts, embed_sum = self._kmeans_init(flat, self.make_rng(COLLECTION))
        self.codebook.value, self.cluster_size.value, self.embed_sum.value = (
            codebook, counts, embed_sum)
        self.initialized.value = jnp.array(True)

    def __call__(self, x: jax.Array, n_q: jax.Array | None = None, train: bool = False):
        """Quantizes x [B, S, D] with the first n_q[b] quantizers for example b.

        Returns (quantized with straight-through gradient, aux) where aux holds all codes
        [B, S, N_q], the commitment loss (over active stages), the fraction of codes the batch
        used and the fraction of dead codes replaced (both averaged over stages).
        """
        batch, frames, _ = x.shape
        x32 = x.astype(jnp.float32)
        flat = x32.reshape(-1, self.dim)
        if n_q is None:
            n_q = jnp.full((batch,), self.num_quantizers, jnp.int32)
        frame_nq = jnp.repeat(n_q, frames)  # [F]
        update = train and not self.is_initializing()

        codebook, cluster_size, embed_sum = (
            self.codebook.value, self.cluster_size.value, self.embed_sum.value)
        if update:
            dead_keys = jax.random.split(self.make_rng(COLLECTION), self.num_quantizers)
        else:
            dead_keys = jnp.zeros((self.num_quantizers, 2), jnp.uint32)

        decay, n, eps = self.ema_decay, self.codebook_size, self.epsilon
        threshold, restart = self.dead_code_rule(flat.shape[0])

        def stage(residual, inputs):
            cb, cs, es, key, i = inputs
            idx = nearest_code(jax.lax.stop_gradient(residual), cb)
            q = cb[idx]
            active = (i < frame_nq).astype(jnp.float32)  # [F]
            commit = jnp.mean(jnp.square(residual - q), -1) * active
            onehot = jax.nn.one_hot(idx, n, dtype=jnp.float32)
            # Hits per code: a sum over frames (an all-reduce of one value per code when the
            # batch is sharded; a scatter of the codes would gather every frame's index).
            hits = onehot.sum(0)
            used = jnp.mean((hits > 0).astype(jnp.float32))  # codes hit by this batch
            perplexity = code_perplexity(active @ onehot)  # over the frames the stage codes
            replaced = jnp.zeros((), jnp.float32)
            if update:
                stats_input = jax.lax.stop_gradient(residual)
                cs = decay * cs + (1 - decay) * hits
                es = decay * es + (1 - decay) * (onehot.T @ stats_input)
                total = cs.sum()
                smoothed = (cs + eps) / (total + n * eps) * total
                cb = es / smoothed[:, None]
                dead = cs < threshold
                replaced = jnp.mean(dead.astype(jnp.float32))
                candidates = replacement_frames(stats_input.reshape(batch, frames, -1), key, n)
                cb = jnp.where(dead[:, None], candidates, cb)
                es = jnp.where(dead[:, None], candidates * restart, es)
                cs = jnp.where(dead, restart, cs)
            return residual - q, (idx, q * active[:, None], commit, cb, cs, es, used, replaced,
                                  perplexity)

        stages = jnp.arange(self.num_quantizers)
        _, (idx, q, commit, new_cb, new_cs, new_es, used, replaced, perplexity) = jax.lax.scan(
            stage, flat, (codebook, cluster_size, embed_sum, dead_keys, stages))
        quantized = q.sum(0).reshape(x.shape)
        commit_loss = commit.sum() / jnp.maximum(frame_nq.sum(), 1).astype(jnp.float32)
        if update:
            self.codebook.value, self.cluster_size.value, self.embed_sum.value = new_cb, new_cs, new_es
        # Straight-through: the forward pass sees the quantized value, the gradient is identity.
        quantized_st = x32 + jax.lax.stop_gradient(quantized - x32)
        aux = {
            "codes": idx.T.reshape(batch, frames, self.num_quantizers),
            "commit_loss": commit_loss,
            "codebook_usage": jnp.mean(used),  # fraction of codes this batch used, over stages
            "dead_codes_replaced": jnp.mean(replaced),  # fraction replaced this step (training)
            "perplexity": perplexity,  # [N_q]: exp(entropy) of each stage's code histogram
        }
        return quantized_st.astype(x.dtype), aux
