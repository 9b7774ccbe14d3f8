"""Static entropy coding (rANS) of RVQ codes: per-codebook probability tables and block coders.

The tables are code counts [n_q, codebook_size] gathered on training data (`count_codes`) and
stored in a model bundle (`save_tables` / `load_tables`). A block is one quantizer's codes,
rANS-coded with `constriction` under that quantizer's table and written as little-endian
uint32 words. Every block starts from the same nonzero coder state (`_SEED`), and decoding must
end exactly there: that tells a complete block from a short or padded one, and makes a run of
code 0 cost bits (an empty rANS state would store it for free). No code is given over half the
probability, so every code costs about a bit at least and a payload bounds the number of codes
it may claim: a forged frame count cannot make the decoder allocate or work much more than the
payload's size. Only numpy, constriction and safetensors are needed.
"""

from __future__ import annotations

import dataclasses

import constriction
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

# The coder's start state: at least the models' 2**24 probability scale, so every encoded
# symbol strictly grows the state and the decoder can only come back to it at the block's end.
_SEED = 1 << 24
_MAX_PROBABILITY = 0.5  # so a code costs >= ~1 bit (rANS rounding: within 1%)
_MAX_CODES_PER_BIT = 2  # what a payload may claim to hold: 1 code per bit, with margin
_MAX_CODEBOOK = 1 << 16  # the .ssc format's 16 bits per code


@dataclasses.dataclass(frozen=True, eq=False)
class EntropyTables:
    """Static per-codebook probability tables; build them with `from_counts`.

    counts: int64 [num_quantizers, codebook_size], what a bundle stores.
    probabilities: float64, same shape, each row summing to 1 (up to rounding).
    """

    counts: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> EntropyTables:
        """Tables from code counts [n_q, N] (non-negative integers); raises ValueError."""
        counts = np.asarray(counts)
        if counts.ndim != 2 or not np.can_cast(counts.dtype, np.int64):
            raise ValueError(f"entropy counts must be a 2-D integer array, not {counts.dtype} "
                             f"{counts.shape}")
        if counts.shape[0] < 1 or not 2 <= counts.shape[1] <= _MAX_CODEBOOK:
            raise ValueError(f"entropy counts of shape {counts.shape}: need >= 1 quantizer and "
                             f"2..{_MAX_CODEBOOK} codes")
        if (counts < 0).any():
            raise ValueError("entropy counts must be non-negative")
        counts = counts.astype(np.int64)
        # +1/2 per code (the Krichevsky-Trofimov estimate): codes unseen in training stay
        # encodable at a small cost. Integer totals and elementwise IEEE operations make the
        # result bit-identical on every machine, so encoder and decoder build the same models.
        weights = counts + 0.5
        totals = counts.sum(axis=1, keepdims=True) + 0.5 * counts.shape[1]
        # Cap a dominant code at _MAX_PROBABILITY, scaling the others up to fill the rest. Only
        # a collapsed codebook hits the cap; it then loses under 1 bit per frame (1 - H(p_max)).
        top = weights.max(axis=1, keepdims=True)
        over = top > _MAX_PROBABILITY * totals
        scaled = np.where(over, weights * (1 - _MAX_PROBABILITY) / (totals - top),
                          weights / totals)  # totals - top: exact, no cancellation
        return cls(counts=counts,
                   probabilities=np.where(over & (weights == top), _MAX_PROBABILITY, scaled))

    @property
    def num_quantizers(self) -> int:
        return self.counts.shape[0]

    @property
    def codebook_size(self) -> int:
        return self.counts.shape[1]

    def model(self, q: int) -> constriction.stream.model.Categorical:
        """The rANS model of quantizer q (cheap to build: microseconds)."""
        if not 0 <= q < self.num_quantizers:
            raise ValueError(f"quantizer {q} outside the tables' 0..{self.num_quantizers - 1}")
        return constriction.stream.model.Categorical(self.probabilities[q], perfect=False)

    def bits_estimate(self, codes: np.ndarray) -> float:
        """Ideal cross-entropy bits of codes [frames, n_q] under the tables (no block
        overhead)."""
        codes = _check_codes(codes, self.num_quantizers, self.codebook_size)
        columns = np.arange(codes.shape[1])
        return float(-np.log2(self.probabilities[columns, codes]).sum())


def _check_codes(codes: np.ndarray, num_quantizers: int, codebook_size: int) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] > num_quantizers:
        raise ValueError(f"codes must be [frames, n_q <= {num_quantizers}], not {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= codebook_size):
        raise ValueError(f"codes must lie in [0, {codebook_size})")
    return codes.astype(np.int64)


def count_codes(codes: np.ndarray, num_quantizers: int, codebook_size: int,
                counts: np.ndarray | None = None) -> np.ndarray:
    """Counts [num_quantizers, codebook_size] of codes [frames, n_q] (n_q <= num_quantizers),
    added to `counts` when given (which is not modified); raises ValueError."""
    codes = _check_codes(codes, num_quantizers, codebook_size)
    flat = (codes + np.arange(codes.shape[1]) * codebook_size).ravel()
    new = np.bincount(flat, minlength=num_quantizers * codebook_size)
    new = new.reshape(num_quantizers, codebook_size).astype(np.int64)
    if counts is None:
        return new
    if np.shape(counts) != new.shape:
        raise ValueError(f"counts of shape {np.shape(counts)} are not {new.shape}")
    return counts + new


def encode_block(symbols: np.ndarray, tables: EntropyTables, q: int) -> bytes:
    """One quantizer's codes [frames] -> rANS words under table q, as little-endian bytes."""
    symbols = np.asarray(symbols)
    if symbols.ndim != 1:
        raise ValueError(f"a block's codes must be 1-D, not {symbols.shape}")
    symbols = _check_codes(symbols[:, None], 1, tables.codebook_size)[:, 0].astype(np.int32)
    coder = constriction.stream.stack.AnsCoder(np.array([_SEED], np.uint32))
    coder.encode_reverse(symbols, tables.model(q))
    return coder.get_compressed().astype("<u4").tobytes()


def decode_block(data: bytes, tables: EntropyTables, q: int, count: int) -> np.ndarray:
    """The inverse of encode_block: `count` codes (int32). Raises ValueError unless `data`
    decodes to exactly `count` codes and nothing is left over. A `count` the payload cannot
    hold is refused before decoding, so work and memory stay within a small multiple of
    len(data)."""
    if not 0 <= count <= _MAX_CODES_PER_BIT * 8 * len(data):
        raise ValueError(f"a rANS payload of {len(data)} bytes cannot hold {count} codes")
    if len(data) % 4:
        raise ValueError(f"rANS payload of {len(data)} bytes is not whole 32-bit words")
    model = tables.model(q)
    # The constructor refuses words ending in 0 (never produced by an encoder): ValueError.
    coder = constriction.stream.stack.AnsCoder(np.frombuffer(data, "<u4").astype(np.uint32))
    codes = coder.decode(model, count)
    # (words left, state) exactly at the seed: every word spent, and spent on these codes only
    # (once below the seed, a decoder can never climb back to it).
    if coder.pos() != (0, _SEED):
        raise ValueError("rANS payload does not end where its codes do")
    return codes


def save_tables(tables: EntropyTables, path: str) -> None:
    """Writes the tables' counts to a safetensors file (key "counts", int64 [n_q, N])."""
    save_file({"counts": np.ascontiguousarray(tables.counts, np.int64)}, path)


def load_tables(path: str) -> EntropyTables:
    """Reads tables written by save_tables; raises ValueError for a malformed file."""
    try:
        tensors = load_file(path)
    except SafetensorError as e:
        raise ValueError(f"{path} is not a safetensors file: {e}") from None
    counts = tensors.get("counts")
    if counts is None or counts.dtype != np.int64:
        raise ValueError(f"{path} holds no int64 'counts' tensor")
    try:
        return EntropyTables.from_counts(counts)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
