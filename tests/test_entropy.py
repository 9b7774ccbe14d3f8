"""Entropy-coded .ssc streams: round trips, compression near the ideal, prefixes, tables on disk,
and damaged or forged input always refused."""

import dataclasses
import struct
import zlib

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st
from safetensors.numpy import save_file

from sscodec.codec import bitstream, entropy
from sscodec.codec.bitstream import FLAG_DENOISE, FLAG_ENTROPY, BitstreamError, Header
from sscodec.codec.entropy import EntropyTables
from tests.test_bitstream import damaged

HASH = bytes(range(16))


def header(frames=10, n_q=4, bits=10, flags=FLAG_ENTROPY):
    return Header(model_hash=HASH, sample_rate=24000, frame_size=320, num_quantizers=n_q,
                  bits_per_code=bits, num_frames=frames, original_length=max(frames * 320 - 7, 0),
                  original_rate=44100, flags=flags)


def zipf_codes(rng, frames, perms):
    """Zipf-like codes [frames, n_q]: quantizer q's k-th likeliest code is perms[q][k]."""
    p = 1.0 / np.arange(1, 1025) ** 1.1
    p /= p.sum()
    return np.stack([perm[rng.choice(1024, frames, p=p)] for perm in perms], 1)


def skewed(frames=40, n_q=3, seed=0):
    """(tables estimated from one sample, codes drawn from another) of the same distribution."""
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(1024) for _ in range(n_q)]
    counts = entropy.count_codes(zipf_codes(rng, 20000, perms), n_q, 1024)
    return EntropyTables.from_counts(counts), zipf_codes(rng, frames, perms)


def forge(h, payloads):
    """A stream with valid CRCs around arbitrary entropy payloads (what an attacker can write)."""
    blocks = [struct.pack("<I", len(p)) + p for p in payloads]
    return h.pack() + b"".join(b + struct.pack("<I", zlib.crc32(b)) for b in blocks)


@given(frames=st.integers(0, 200), n_q=st.integers(1, 8), bits=st.integers(1, 16),
       seed=st.integers(0, 2 ** 16))
@settings(max_examples=60, deadline=None)
def test_round_trip(frames, n_q, bits, seed):
    rng = np.random.default_rng(seed)
    # Sparse training counts: codes never seen in training must still be encodable.
    counts = rng.integers(0, 50, (n_q + 1, 2 ** bits)) * (rng.random((n_q + 1, 2 ** bits)) < .3)
    tables = EntropyTables.from_counts(counts)
    codes = rng.integers(0, 2 ** bits, (frames, n_q))
    data = bitstream.write(codes, header(frames, n_q, bits), tables)
    got_header, got = bitstream.read(data, model_hash=HASH, tables=tables)
    assert got_header == header(frames, n_q, bits) and got_header.entropy_coded
    np.testing.assert_array_equal(got, codes)


def test_skewed_codes_compress_to_near_their_cross_entropy():
    tables, codes = skewed(frames=2000, n_q=8)
    raw = bitstream.write(codes, header(2000, 8, flags=0))
    coded = bitstream.write(codes, header(2000, 8), tables)
    ideal = tables.bits_estimate(codes)
    assert len(coded) < 0.8 * len(raw)
    assert ideal < len(coded) * 8 < 1.03 * ideal  # header, lengths and CRCs: ~1% here
    h, got = bitstream.read(coded, tables=tables)
    np.testing.assert_array_equal(got, codes)
    assert bitstream.actual_bits_per_second(len(coded), h) < bitstream.bits_per_second(h)
    assert bitstream.actual_bits_per_second(len(raw), h) == pytest.approx(len(raw) * 8 / (
        2000 * 320 / 24000))


def test_lower_bitrate_is_a_prefix_and_needs_no_tables():
    tables, codes = skewed(frames=75, n_q=8)
    data = bitstream.write(codes, header(75, 8), tables)
    low = bitstream.truncate(data, 3)
    assert data.startswith(low[bitstream.HEADER_SIZE:], bitstream.HEADER_SIZE)
    h, got = bitstream.read(low, tables=tables)
    assert h.num_quantizers == 3 and len(low) < len(data) / 2
    np.testing.assert_array_equal(got, codes[:, :3])
    with pytest.raises(ValueError):
        bitstream.truncate(data, 9)


@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_any_damage_is_refused_with_a_clear_error(data):
    tables, codes = skewed(seed=1)
    good = bitstream.write(codes, header(40, 3), tables)
    bad = damaged(good, data)
    if bad is None:
        return
    with pytest.raises(BitstreamError):
        bitstream.read(bad, tables=tables)
    with pytest.raises(BitstreamError):
        bitstream.truncate(bad, 1)


@given(frames=st.one_of(st.integers(0, 50), st.integers(0, 2 ** 32 - 1)),
       payload=st.binary(max_size=64))
@example(frames=0, payload=(1 << 24).to_bytes(4, "little"))  # the empty block: accepted
@settings(max_examples=200, deadline=None)
def test_forged_payloads_are_refused_quickly_unless_canonical(frames, payload):
    """Garbage behind valid CRCs, even claiming 2**32 - 1 frames, is refused (without decoding
    more codes than the payload could hold); what is accepted is exactly what write would
    produce for its codes."""
    tables, _ = skewed()
    data = forge(header(frames, 1), [payload])
    try:
        h, codes = bitstream.read(data, tables=tables)
    except BitstreamError as e:
        assert "quantizer 0" in str(e)
        return
    assert bitstream.write(codes, h, tables) == data


def test_a_block_decodes_to_exactly_its_frame_count():
    tables, _ = skewed(n_q=1)
    zeros = np.zeros((1000, 1), np.int64)  # an empty rANS state would hold these for free
    payload = entropy.encode_block(zeros[:, 0], tables, 0)
    assert len(payload) > 4
    np.testing.assert_array_equal(bitstream.read(forge(header(1000, 1), [payload]),
                                                 tables=tables)[1], zeros)
    for frames in (999, 1001, 2 ** 32 - 1):
        with pytest.raises(BitstreamError, match="quantizer 0"):
            bitstream.read(forge(header(frames, 1), [payload]), tables=tables)
    with pytest.raises(BitstreamError, match="whole 32-bit words"):
        bitstream.read(forge(header(1000, 1), [payload + b"\0"]), tables=tables)


def test_a_collapsed_codebook_still_costs_a_bit_per_code():
    """The cap that bounds what a forged frame count can make the decoder allocate."""
    tables = EntropyTables.from_counts(np.array([[0, 10 ** 12, 0, 5]]))
    assert tables.probabilities[0, 1] == 0.5 and tables.probabilities.sum() == pytest.approx(1)
    assert tables.probabilities[0, 0] == tables.probabilities[0, 2] < tables.probabilities[0, 3]
    ones = np.ones(10000, np.int64)
    payload = entropy.encode_block(ones, tables, 0)
    assert len(payload) * 8 >= 0.99 * len(ones)
    np.testing.assert_array_equal(entropy.decode_block(payload, tables, 0, len(ones)), ones)
    with pytest.raises(ValueError, match="cannot hold"):
        entropy.decode_block(payload, tables, 0, 2 ** 32 - 1)


def test_missing_or_unfit_tables_and_unknown_flags_are_clear_errors():
    tables, codes = skewed()
    data = bitstream.write(codes, header(40, 3), tables)
    with pytest.raises(BitstreamError, match="no entropy tables"):
        bitstream.read(data)
    with pytest.raises(BitstreamError, match="quantizers"):
        bitstream.read(data, tables=EntropyTables.from_counts(tables.counts[:2]))
    with pytest.raises(BitstreamError, match="512 codes"):
        bitstream.read(data, tables=EntropyTables.from_counts(tables.counts[:, :512]))
    unknown = dataclasses.replace(header(40, 3), flags=FLAG_ENTROPY | 4).pack()
    with pytest.raises(BitstreamError, match="unsupported flags"):
        bitstream.read(unknown + data[bitstream.HEADER_SIZE:], tables=tables)
    with pytest.raises(ValueError, match="unsupported flags 0x8"):
        bitstream.write(codes, header(40, 3, flags=8), tables)


def test_denoise_flag_round_trips_on_both_layouts():
    tables, codes = skewed()
    for flags in (FLAG_DENOISE, FLAG_DENOISE | FLAG_ENTROPY):
        h, got = bitstream.read(bitstream.write(codes, header(40, 3, flags=flags), tables),
                                tables=tables)
        assert h.denoise and h.entropy_coded == bool(flags & FLAG_ENTROPY)
        np.testing.assert_array_equal(got, codes)


def test_write_refuses_codes_or_tables_that_do_not_fit():
    tables, codes = skewed()
    with pytest.raises(ValueError, match=r"\[0, 1024\)"):
        bitstream.write(codes + 1024, header(40, 3), tables)
    with pytest.raises(ValueError, match=r"\[0, 1024\)"):
        entropy.encode_block(np.array([1024]), tables, 0)
    with pytest.raises(ValueError, match="needs entropy tables"):
        bitstream.write(codes, header(40, 3))
    with pytest.raises(ValueError, match="do not fit 9-bit"):
        bitstream.write(codes // 2, header(40, 3, bits=9), tables)
    with pytest.raises(ValueError, match="cover 3 quantizers"):
        bitstream.write(np.zeros((40, 4), int), header(40, 4), tables)


def test_count_codes_accumulates():
    codes = np.random.default_rng(0).integers(0, 8, (100, 2))
    counts = entropy.count_codes(codes[:60], 3, 8)
    counts = entropy.count_codes(codes[60:], 3, 8, counts)
    assert counts.shape == (3, 8) and counts.dtype == np.int64
    np.testing.assert_array_equal(counts[:2], [np.bincount(c, minlength=8) for c in codes.T])
    assert not counts[2].any()
    with pytest.raises(ValueError):
        entropy.count_codes(codes, 1, 8)


def test_tables_save_load_round_trip_and_malformed_files(tmp_path):
    tables, _ = skewed()
    path = str(tmp_path / "entropy.safetensors")
    entropy.save_tables(tables, path)
    loaded = entropy.load_tables(path)
    np.testing.assert_array_equal(loaded.counts, tables.counts)
    np.testing.assert_array_equal(loaded.probabilities, tables.probabilities)
    assert (loaded.num_quantizers, loaded.codebook_size) == (3, 1024)
    bad = {"garbage": None, "counts_f32": {"counts": np.ones((2, 4), np.float32)},
           "negative": {"counts": -np.ones((2, 4), np.int64)},
           "1-D": {"counts": np.ones(4, np.int64)}, "no key": {"other": np.ones((2, 4), np.int64)}}
    for name, tensors in bad.items():
        path = str(tmp_path / f"{name}.safetensors")
        if tensors is None:
            with open(path, "wb") as f:
                f.write(b"not a safetensors file at all")
        else:
            save_file(tensors, path)
        with pytest.raises(ValueError):
            entropy.load_tables(path)
