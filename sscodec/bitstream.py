"""The `.ssc` file format: a versioned header, RVQ codes bit-packed per quantizer, CRCs.

Layout (little-endian):

  header   magic "SSCD", format version u16, flags u16, model hash 16 B, sample rate u32,
           frame size u16, n_q u8, bits per code u8, frames u32, original length u64,
           original sample rate u32, header CRC32 u32
  blocks   one per quantizer, in RVQ order: the frames' codes of that quantizer packed at
           `bits per code` bits (MSB first, zero-padded to a byte), then the block's CRC32

Quantizer-major blocks make a lower bitrate a prefix: `truncate(data, n_q)` keeps the first n_q
blocks and rewrites the header, no re-encoding. Every byte is covered by a CRC and every length
is checked, so a corrupt, truncated or padded file raises `BitstreamError` and never decodes.
Only numpy and zlib are needed.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np

MAGIC = b"SSCD"
VERSION = 1
_HEADER = struct.Struct("<4sHH16sIHBBIQI")
_CRC = struct.Struct("<I")
HEADER_SIZE = _HEADER.size + _CRC.size


class BitstreamError(ValueError):
    """The data is not a valid .ssc stream for this reader (or this model)."""


@dataclasses.dataclass(frozen=True)
class Header:
    model_hash: bytes  # 16 bytes identifying the model (bundle) that wrote the codes
    sample_rate: int
    frame_size: int
    num_quantizers: int
    bits_per_code: int
    num_frames: int
    original_length: int  # samples of the input, at original_rate
    original_rate: int
    version: int = VERSION
    flags: int = 0

    def pack(self) -> bytes:
        try:
            body = _HEADER.pack(MAGIC, self.version, self.flags, self.model_hash,
                                self.sample_rate, self.frame_size, self.num_quantizers,
                                self.bits_per_code, self.num_frames, self.original_length,
                                self.original_rate)
        except struct.error as e:
            raise ValueError(f"header field out of range for the .ssc format: {e}") from None
        return body + _CRC.pack(zlib.crc32(body))

    @property
    def block_size(self) -> int:
        """Bytes of one quantizer's block, CRC included."""
        return -(-self.num_frames * self.bits_per_code // 8) + _CRC.size


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Non-negative ints < 2**bits -> `bits` bits each, MSB first, zero-padded to a byte."""
    values = np.asarray(values, np.uint32)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    return np.packbits(((values[:, None] >> shifts) & 1).astype(np.uint8).ravel()).tobytes()


def unpack_bits(data: bytes, count: int, bits: int) -> np.ndarray:
    """The inverse of pack_bits: `count` values of `bits` bits."""
    flat = np.unpackbits(np.frombuffer(data, np.uint8))[: count * bits].reshape(count, bits)
    return (flat.astype(np.int64) << np.arange(bits - 1, -1, -1)).sum(axis=1).astype(np.int32)


def write(codes: np.ndarray, header: Header) -> bytes:
    """Codes [frames, n_q] (ints < 2**bits_per_code) -> .ssc bytes with `header`'s fields."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape != (header.num_frames, header.num_quantizers):
        raise ValueError(f"codes of shape {codes.shape} do not match the header "
                         f"({header.num_frames} frames x {header.num_quantizers} quantizers)")
    if codes.size and (codes.min() < 0 or codes.max() >= 2 ** header.bits_per_code):
        raise ValueError(f"codes must lie in [0, {2 ** header.bits_per_code})")
    if len(header.model_hash) != 16:
        raise ValueError("model_hash must be 16 bytes")
    out = [header.pack()]
    for q in range(header.num_quantizers):
        block = pack_bits(codes[:, q], header.bits_per_code)
        out += [block, _CRC.pack(zlib.crc32(block))]
    return b"".join(out)


def read_header(data: bytes) -> Header:
    """Parses and checks the header; raises BitstreamError."""
    if len(data) < HEADER_SIZE:
        raise BitstreamError(f"too short for an .ssc header ({len(data)} bytes)")
    body, (crc,) = data[: _HEADER.size], _CRC.unpack_from(data, _HEADER.size)
    fields = _HEADER.unpack(body)
    if fields[0] != MAGIC:
        raise BitstreamError("not an .ssc stream (bad magic)")
    if fields[1] != VERSION:
        raise BitstreamError(f".ssc format version {fields[1]} is not supported (this reader: "
                             f"{VERSION})")
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupt .ssc header (CRC mismatch)")
    header = Header(model_hash=fields[3], sample_rate=fields[4], frame_size=fields[5],
                    num_quantizers=fields[6], bits_per_code=fields[7], num_frames=fields[8],
                    original_length=fields[9], original_rate=fields[10], version=fields[1],
                    flags=fields[2])
    if not 1 <= header.bits_per_code <= 16 or header.num_quantizers < 1 or header.flags:
        raise BitstreamError("unsupported .ssc header values")
    return header


def read(data: bytes, model_hash: bytes | None = None) -> tuple[Header, np.ndarray]:
    """.ssc bytes -> (header, codes [frames, n_q]); raises BitstreamError for any damage, and
    for a stream written by another model when `model_hash` is given."""
    header = read_header(data)
    if model_hash is not None and header.model_hash != model_hash:
        raise BitstreamError("this .ssc stream was written by another model "
                             f"({header.model_hash.hex()[:12]}, not {model_hash.hex()[:12]})")
    expected = HEADER_SIZE + header.num_quantizers * header.block_size
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise BitstreamError(f".ssc stream {what}: {len(data)} bytes, expected {expected}")
    codes = np.empty((header.num_frames, header.num_quantizers), np.int32)
    offset, payload = HEADER_SIZE, header.block_size - _CRC.size
    for q in range(header.num_quantizers):
        block = data[offset: offset + payload]
        (crc,) = _CRC.unpack_from(data, offset + payload)
        if zlib.crc32(block) != crc:
            raise BitstreamError(f"corrupt .ssc stream: quantizer {q} fails its CRC")
        codes[:, q] = unpack_bits(block, header.num_frames, header.bits_per_code)
        offset += header.block_size
    return header, codes


def truncate(data: bytes, num_quantizers: int) -> bytes:
    """The same stream at the first `num_quantizers` quantizers (a lower bitrate), unchanged
    otherwise; the kept blocks are checked first."""
    header, _ = read(data)
    if not 1 <= num_quantizers <= header.num_quantizers:
        raise ValueError(f"n_q={num_quantizers} outside 1..{header.num_quantizers}")
    kept = dataclasses.replace(header, num_quantizers=num_quantizers)
    return kept.pack() + data[HEADER_SIZE: HEADER_SIZE + num_quantizers * header.block_size]


def bits_per_second(header: Header) -> float:
    """The payload bitrate: frames/s x n_q x bits per code."""
    return header.sample_rate / header.frame_size * header.num_quantizers * header.bits_per_code
