"""The .ssc bitstream: round trips, lower-bitrate prefixes, and damaged input always refused."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sscodec import bitstream
from sscodec.bitstream import BitstreamError, Header

HASH = bytes(range(16))


def header(frames=10, n_q=4, bits=10):
    return Header(model_hash=HASH, sample_rate=24000, frame_size=320, num_quantizers=n_q,
                  bits_per_code=bits, num_frames=frames, original_length=max(frames * 320 - 7, 0),
                  original_rate=44100)


def stream(frames=10, n_q=4, bits=10, seed=0):
    codes = np.random.default_rng(seed).integers(0, 2 ** bits, (frames, n_q))
    return codes, bitstream.write(codes, header(frames, n_q, bits))


@given(frames=st.integers(0, 200), n_q=st.integers(1, 8), bits=st.integers(1, 16),
       seed=st.integers(0, 2 ** 16))
@settings(max_examples=60, deadline=None)
def test_round_trip_and_size(frames, n_q, bits, seed):
    codes, data = stream(frames, n_q, bits, seed)
    got_header, got = bitstream.read(data, model_hash=HASH)
    assert got_header == header(frames, n_q, bits)
    np.testing.assert_array_equal(got, codes)
    assert len(data) == bitstream.HEADER_SIZE + n_q * (-(-frames * bits // 8) + 4)


def test_lower_bitrate_is_a_prefix_of_the_file():
    codes, data = stream(75, 8)
    low = bitstream.truncate(data, 2)
    h, got = bitstream.read(low)
    assert h.num_quantizers == 2 and len(low) < len(data) / 3
    np.testing.assert_array_equal(got, codes[:, :2])
    assert bitstream.bits_per_second(h) == 75 * 2 * 10  # 1.5 kbps
    with pytest.raises(ValueError):
        bitstream.truncate(data, 9)


def damaged(good: bytes, data) -> bytes | None:
    """A hypothesis-drawn damage of `good`: a flipped bit, a truncation, appended or spliced
    junk; None when the splice happened to change nothing."""
    kind = data.draw(st.sampled_from(["flip", "truncate", "append", "splice"]))
    if kind == "flip":
        i = data.draw(st.integers(0, len(good) - 1))
        bit = data.draw(st.integers(0, 7))
        return good[:i] + bytes([good[i] ^ (1 << bit)]) + good[i + 1:]
    if kind == "truncate":
        return good[: data.draw(st.integers(0, len(good) - 1))]
    if kind == "append":
        return good + data.draw(st.binary(min_size=1, max_size=16))
    i = data.draw(st.integers(0, len(good) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=8))
    bad = good[:i] + junk + good[i + len(junk):]
    return None if bad == good else bad


@given(data=st.data())
@settings(max_examples=200, deadline=None)
def test_any_damage_is_refused_with_a_clear_error(data):
    _, good = stream(40, 3, seed=1)
    bad = damaged(good, data)
    if bad is None:
        return
    with pytest.raises(BitstreamError):
        bitstream.read(bad)


def test_wrong_model_and_bad_input_are_clear_errors():
    codes, data = stream()
    with pytest.raises(BitstreamError, match="another model"):
        bitstream.read(data, model_hash=bytes(16))
    with pytest.raises(BitstreamError, match="bad magic"):
        bitstream.read(b"RIFF" + data[4:])
    newer = dataclasses.replace(header(), version=2).pack()
    with pytest.raises(BitstreamError, match="version 2"):
        bitstream.read(newer + data[bitstream.HEADER_SIZE:])
    with pytest.raises(ValueError, match="do not match"):
        bitstream.write(codes[:, :2], header())
    with pytest.raises(ValueError, match=r"\[0, 1024\)"):
        bitstream.write(codes + 1024, header())
