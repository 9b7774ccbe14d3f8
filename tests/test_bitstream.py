"""The .ssc bitstream: round trips, lower-bitrate prefixes, and damaged input always refused."""

import dataclasses
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sscodec.codec import bitstream
from sscodec.codec.bitstream import BitstreamError, Header

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
    newer = data[:4] + struct.pack("<H", bitstream.VERSION + 1) + data[6:]
    with pytest.raises(BitstreamError, match=f"version {bitstream.VERSION + 1} is not supported"):
        bitstream.read(newer)
    with pytest.raises(ValueError, match="do not match"):
        bitstream.write(codes[:, :2], header())
    with pytest.raises(ValueError, match=r"\[0, 1024\)"):
        bitstream.write(codes + 1024, header())


def forge(data: bytes, **fields) -> bytes:
    """`data` with header fields replaced and the header CRC recomputed: a forger's file."""
    forged = dataclasses.replace(bitstream.read_header(data), **fields)
    return forged.pack() + data[bitstream.HEADER_SIZE:]


@pytest.mark.parametrize("fields,message", [
    (dict(original_length=3_000_000_000), "original length 3000000000 exceeds"),
    (dict(original_rate=2_000_000_000), "original rate 2000000000 Hz outside"),
    (dict(original_rate=0), "original rate 0 Hz outside"),
    (dict(sample_rate=0), "sample rate 0 Hz outside"),
    (dict(sample_rate=4_000_000), "sample rate 4000000 Hz outside"),
    (dict(frame_size=0), "frame size 0"),
    (dict(bits_per_code=0), "bits per code 0"),
    (dict(bits_per_code=17), "bits per code 17"),
    (dict(num_quantizers=0), "no quantizers"),
    (dict(flags=8), "unsupported flags 0x8"),
])
def test_forged_header_fields_are_refused_before_anything_is_sized(fields, message):
    _, good = stream(10, 4)
    with pytest.raises(BitstreamError, match=message):
        bitstream.read(forge(good, **fields))
    with pytest.raises(ValueError, match="cannot write"):  # and a writer cannot make one
        bitstream.write(np.zeros((10, 4), int), dataclasses.replace(header(10, 4), **fields))


def test_original_length_may_cover_its_frames_plus_one_frame_only():
    _, good = stream(10, 4)  # 10 frames of 320 at 24 kHz, original at 44.1 kHz
    most = -(-11 * 320 * 44100 // 24000)
    assert bitstream.read(forge(good, original_length=most))[0].original_length == most
    with pytest.raises(BitstreamError, match="exceeds"):
        bitstream.read(forge(good, original_length=most + 1))


def test_a_header_must_match_the_decoding_model():
    h = header(10, 4)
    bitstream.check_model(h, 24000, 320, 10, 8)
    for args, field in (((48000, 320, 10, 8), "sample rate 24000"),
                        ((24000, 640, 10, 8), "frame size 320"),
                        ((24000, 320, 12, 8), "bits per code 10"),
                        ((24000, 320, 10, 2), "4 quantizers")):
        with pytest.raises(BitstreamError, match=field):
            bitstream.check_model(h, *args)


U32, U64 = st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 64 - 1)


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_forged_files_decode_in_memory_linear_in_their_size(data):
    """A forger's file (any header values, CRCs recomputed, blocks kept, cut or padded) is either
    refused or decodes to codes and an output length bounded by a constant times its size."""
    _, good = stream(data.draw(st.integers(0, 30)), data.draw(st.integers(1, 4)), seed=2)
    fields = data.draw(st.fixed_dictionaries({}, optional={
        "sample_rate": U32, "frame_size": st.integers(0, 2 ** 16 - 1),
        "num_quantizers": st.integers(0, 255), "bits_per_code": st.integers(0, 255),
        "num_frames": U32, "original_length": U64, "original_rate": U32,
        "flags": st.integers(0, 2 ** 16 - 1)}))
    bad = forge(good, **fields)
    bad = bad[: data.draw(st.integers(bitstream.HEADER_SIZE, len(bad)))]
    try:
        h, codes = bitstream.read(bad)
    except BitstreamError:
        return
    assert codes.shape == (h.num_frames, h.num_quantizers)
    assert h.num_frames <= 8 * len(bad) and codes.size <= 8 * len(bad)  # >= 1 bit per code
    # What decompress writes: at most (frames + 1) x frame_size x original_rate / sample_rate.
    assert h.original_length <= (len(bad) * 8 + 1) * h.frame_size * bitstream.MAX_RATE // 1000
