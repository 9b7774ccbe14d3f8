"""The `.ssc` file format: a versioned header, RVQ codes per quantizer, CRCs.

Layout (little-endian):

  header   magic "SSCD", format version u16, flags u16, model hash 16 B, sample rate u32,
           frame size u16, n_q u8, bits per code u8, frames u32, original length u64,
           original sample rate u32, [version 2: audio channels u8], header CRC32 u32
  blocks   one per quantizer, in RVQ order. Without FLAG_ENTROPY: the frames' codes of that
           quantizer packed at `bits per code` bits (MSB first, zero-padded to a byte), then the
           block's CRC32. With FLAG_ENTROPY: payload length in bytes u32, the payload (the codes
           rANS-coded under the model's entropy table for that quantizer, `sscodec.codec.entropy`),
           then a CRC32 of length and payload.

Versions: a stream is written in the oldest version that holds it. Version 1 is mono: the mono
streams of before the channel count existed, byte for byte the same as those written now. Version
2 adds the channel count, for multi-channel models (`model.channels` > 1); a reader of version 1
only refuses it as "format version 2 is not supported". The codes are the same either way: one
set per frame carries all channels (the model codes them jointly), and `original_length` counts
samples per channel.

Flags: FLAG_ENTROPY (1) the blocks are entropy coded, so reading needs the model's tables;
FLAG_DENOISE (2) the encoder was asked to denoise (a decoder-side FiLM model conditions on it).
Other flag bits are refused.

Bounded decoding: the CRCs guard against accidents, not forgers, so read_header also checks every
field against fixed limits and against the others before anything is sized from it: rates within
MIN_RATE..MAX_RATE, a frame size of at least 1, and an original length of at most what the frames
decode to at the original rate plus one frame. A reader that knows its model (`check_model`) also
insists on the model's rate, frame size and code width. Then decoding takes memory and time linear
in the file's size: a bit-packed block holds >= 1 bit per code and an entropy-coded one (see
`sscodec.codec.entropy`) at most 2 codes per bit, each code is one frame of frame_size samples, and
resampling to original_rate multiplies that by at most MAX_RATE / sample_rate.

Quantizer-major blocks make a lower bitrate a prefix: `truncate(data, n_q)` keeps the first n_q
blocks and rewrites the header, no re-encoding. Every byte is covered by a CRC and every length
is checked, so a corrupt, truncated or padded file raises `BitstreamError` and never decodes.
Only numpy, zlib and (for entropy-coded blocks) constriction are needed.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

import numpy as np

from sscodec.codec import entropy

MAGIC = b"SSCD"
VERSION = 2  # the newest this reader knows; a mono stream is still written as version 1
MONO_VERSION = 1
FLAG_ENTROPY = 1  # blocks are rANS-coded under the model's entropy tables
FLAG_DENOISE = 2  # the encoder was asked to denoise; a FiLM-at-decoder model needs it too
_KNOWN_FLAGS = FLAG_ENTROPY | FLAG_DENOISE
_HEADER = struct.Struct("<4sHH16sIHBBIQI")  # version 1 (mono)
_LAYOUTS = {1: _HEADER, 2: struct.Struct("<4sHH16sIHBBIQIB")}  # version 2: + channels u8
_CRC = struct.Struct("<I")
_LENGTH = struct.Struct("<I")  # an entropy-coded block's payload bytes
HEADER_SIZE = _HEADER.size + _CRC.size  # a version 1 (mono) header; `Header.size` of any
MAX_CHANNELS = 255
MIN_RATE, MAX_RATE = 1_000, 384_000  # Hz, both the codec's and the original rate


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
    original_length: int  # samples of the input (per channel), at original_rate
    original_rate: int
    version: int = 0  # 0: the oldest that holds these fields (1 for mono, 2 otherwise)
    flags: int = 0
    channels: int = 1  # audio channels the codes decode to

    def __post_init__(self):
        if self.version == 0:
            object.__setattr__(self, "version", MONO_VERSION if self.channels == 1 else 2)

    def pack(self) -> bytes:
        if self.version not in _LAYOUTS:
            raise ValueError(f"this writer knows .ssc versions {sorted(_LAYOUTS)}, not "
                             f"{self.version}")
        if self.version == MONO_VERSION and self.channels != 1:  # it has no field for them
            raise ValueError(f"version {MONO_VERSION} holds mono streams only, not "
                             f"{self.channels} channels")
        fields = (MAGIC, self.version, self.flags, self.model_hash, self.sample_rate,
                  self.frame_size, self.num_quantizers, self.bits_per_code, self.num_frames,
                  self.original_length, self.original_rate)
        try:
            body = _LAYOUTS[self.version].pack(*fields + ((self.channels,)
                                                          if self.version >= 2 else ()))
        except struct.error as e:
            raise ValueError(f"header field out of range for the .ssc format: {e}") from None
        return body + _CRC.pack(zlib.crc32(body))

    @property
    def size(self) -> int:
        """Bytes of this header, CRC included."""
        return _LAYOUTS[self.version].size + _CRC.size

    @property
    def entropy_coded(self) -> bool:
        return bool(self.flags & FLAG_ENTROPY)

    @property
    def denoise(self) -> bool:
        return bool(self.flags & FLAG_DENOISE)

    @property
    def max_original_length(self) -> int:
        """The most original samples these frames can stand for: frames + 1 at original_rate."""
        return -(-(self.num_frames + 1) * self.frame_size * self.original_rate // self.sample_rate)

    def problem(self) -> str | None:
        """Why these fields cannot describe a stream this reader decodes, or None."""
        if not 1 <= self.bits_per_code <= 16:
            return f"bits per code {self.bits_per_code} outside 1..16"
        if self.num_quantizers < 1:
            return "no quantizers"
        if not 1 <= self.channels <= MAX_CHANNELS:
            return f"{self.channels} audio channels"
        if self.version == MONO_VERSION and self.channels != 1:
            return f"version {MONO_VERSION} holds mono streams only, not {self.channels} channels"
        if self.flags & ~_KNOWN_FLAGS:
            return f"unsupported flags {self.flags:#x} (this reader knows {_KNOWN_FLAGS:#x})"
        for name in ("sample_rate", "original_rate"):
            if not MIN_RATE <= getattr(self, name) <= MAX_RATE:
                return (f"{name.replace('_', ' ')} {getattr(self, name)} Hz outside "
                        f"{MIN_RATE}..{MAX_RATE}")
        if self.frame_size < 1:
            return "frame size 0"
        if self.original_length > self.max_original_length:
            return (f"original length {self.original_length} exceeds the "
                    f"{self.max_original_length} samples its {self.num_frames} frames can hold")
        return None

    @property
    def block_size(self) -> int:
        """Bytes of one quantizer's bit-packed block (not entropy coded), CRC included."""
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


def _check_tables(tables: entropy.EntropyTables, header: Header) -> str | None:
    """Why `tables` cannot code the stream of `header`, or None."""
    if tables.codebook_size != 2 ** header.bits_per_code:
        return (f"entropy tables of {tables.codebook_size} codes do not fit "
                f"{header.bits_per_code}-bit codes")
    if tables.num_quantizers < header.num_quantizers:
        return (f"entropy tables cover {tables.num_quantizers} quantizers, the stream has "
                f"{header.num_quantizers}")
    return None


def _entropy_block(codes: np.ndarray, tables: entropy.EntropyTables, q: int) -> bytes:
    payload = entropy.encode_block(codes, tables, q)
    if len(payload) >= 2 ** 32:
        raise ValueError(f"quantizer {q}'s entropy-coded block exceeds 4 GiB")
    block = _LENGTH.pack(len(payload)) + payload
    return block + _CRC.pack(zlib.crc32(block))


def write(codes: np.ndarray, header: Header,
          tables: entropy.EntropyTables | None = None) -> bytes:
    """Codes [frames, n_q] (ints < 2**bits_per_code) -> .ssc bytes with `header`'s fields.
    With FLAG_ENTROPY in header.flags, block q is rANS-coded under `tables` row q (required);
    otherwise `tables` is not used."""
    if (why := header.problem()) is not None:
        raise ValueError(f"cannot write this .ssc header: {why}")
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape != (header.num_frames, header.num_quantizers):
        raise ValueError(f"codes of shape {codes.shape} do not match the header "
                         f"({header.num_frames} frames x {header.num_quantizers} quantizers)")
    if codes.size and (codes.min() < 0 or codes.max() >= 2 ** header.bits_per_code):
        raise ValueError(f"codes must lie in [0, {2 ** header.bits_per_code})")
    if len(header.model_hash) != 16:
        raise ValueError("model_hash must be 16 bytes")
    out = [header.pack()]
    if header.entropy_coded:
        if tables is None:
            raise ValueError("an entropy-coded stream (FLAG_ENTROPY) needs entropy tables")
        if (why := _check_tables(tables, header)) is not None:
            raise ValueError(why)
        out += [_entropy_block(codes[:, q], tables, q) for q in range(header.num_quantizers)]
        return b"".join(out)
    for q in range(header.num_quantizers):
        block = pack_bits(codes[:, q], header.bits_per_code)
        out += [block, _CRC.pack(zlib.crc32(block))]
    return b"".join(out)


def read_header(data: bytes) -> Header:
    """Parses and checks the header; raises BitstreamError."""
    if len(data) < HEADER_SIZE:
        raise BitstreamError(f"too short for an .ssc header ({len(data)} bytes)")
    magic, version = struct.unpack_from("<4sH", data)
    if magic != MAGIC:
        raise BitstreamError("not an .ssc stream (bad magic)")
    if version not in _LAYOUTS:
        raise BitstreamError(f".ssc format version {version} is not supported (this reader: "
                             f"{', '.join(map(str, sorted(_LAYOUTS)))})")
    layout = _LAYOUTS[version]
    if len(data) < layout.size + _CRC.size:
        raise BitstreamError(f"too short for an .ssc version {version} header ({len(data)} bytes)")
    body, (crc,) = data[: layout.size], _CRC.unpack_from(data, layout.size)
    fields = layout.unpack(body)
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupt .ssc header (CRC mismatch)")
    header = Header(model_hash=fields[3], sample_rate=fields[4], frame_size=fields[5],
                    num_quantizers=fields[6], bits_per_code=fields[7], num_frames=fields[8],
                    original_length=fields[9], original_rate=fields[10], version=version,
                    flags=fields[2], channels=fields[11] if version >= 2 else 1)
    if (why := header.problem()) is not None:
        raise BitstreamError(f"invalid .ssc header: {why}")
    return header


def check_model(header: Header, sample_rate: int, frame_size: int, bits_per_code: int,
                num_quantizers: int, channels: int = 1) -> None:
    """Refuses (BitstreamError) a header whose coding fields are not the decoding model's: the
    model hash alone can be forged, and a reader that trusted the header's frame size or code
    width would decode a wrong signal or size its output from a forger's number."""
    for name, model_value in (("sample_rate", sample_rate), ("frame_size", frame_size),
                              ("bits_per_code", bits_per_code), ("channels", channels)):
        if getattr(header, name) != model_value:
            raise BitstreamError(f"invalid .ssc header: {name.replace('_', ' ')} "
                                 f"{getattr(header, name)}, the model's is {model_value}")
    if header.num_quantizers > num_quantizers:
        raise BitstreamError(f"invalid .ssc header: {header.num_quantizers} quantizers, the "
                             f"model has {num_quantizers}")


def _payloads(data: bytes, header: Header) -> list[slice]:
    """Where each quantizer's payload lies in `data`, after checking every length and CRC."""
    if not header.entropy_coded:
        expected = header.size + header.num_quantizers * header.block_size
        if len(data) != expected:
            what = "truncated" if len(data) < expected else "has trailing bytes"
            raise BitstreamError(f".ssc stream {what}: {len(data)} bytes, expected {expected}")
    spans, offset = [], header.size
    for q in range(header.num_quantizers):
        if header.entropy_coded:
            if offset + _LENGTH.size > len(data):
                raise BitstreamError(f".ssc stream truncated in quantizer {q}'s block length")
            start = offset + _LENGTH.size
            end = start + _LENGTH.unpack_from(data, offset)[0]
        else:
            start, end = offset, offset + header.block_size - _CRC.size
        if end + _CRC.size > len(data):
            raise BitstreamError(f".ssc stream truncated in quantizer {q}'s block")
        if zlib.crc32(data[offset: end]) != _CRC.unpack_from(data, end)[0]:
            raise BitstreamError(f"corrupt .ssc stream: quantizer {q} fails its CRC")
        spans.append(slice(start, end))
        offset = end + _CRC.size
    if offset != len(data):
        raise BitstreamError(f".ssc stream has {len(data) - offset} trailing bytes")
    return spans


def _decode_entropy(data: bytes, header: Header, spans: list[slice],
                    tables: entropy.EntropyTables | None) -> np.ndarray:
    if tables is None:
        raise BitstreamError("this .ssc stream is entropy coded; the model bundle has no "
                             "entropy tables")
    if (why := _check_tables(tables, header)) is not None:
        raise BitstreamError(why)
    columns = []
    for q, span in enumerate(spans):
        try:
            columns.append(entropy.decode_block(data[span], tables, q, header.num_frames))
        except ValueError as e:
            raise BitstreamError(f"corrupt .ssc stream: quantizer {q}: {e}") from None
    return np.stack(columns, axis=1)


def read(data: bytes, model_hash: bytes | None = None,
         tables: entropy.EntropyTables | None = None) -> tuple[Header, np.ndarray]:
    """.ssc bytes -> (header, codes [frames, n_q]); raises BitstreamError for any damage, for a
    stream written by another model when `model_hash` is given, and for an entropy-coded
    stream without (fitting) `tables`."""
    header = read_header(data)
    if model_hash is not None and header.model_hash != model_hash:
        raise BitstreamError("this .ssc stream was written by another model "
                             f"({header.model_hash.hex()[:12]}, not {model_hash.hex()[:12]})")
    spans = _payloads(data, header)
    if header.entropy_coded:
        return header, _decode_entropy(data, header, spans, tables)
    codes = np.empty((header.num_frames, header.num_quantizers), np.int32)
    for q, span in enumerate(spans):
        codes[:, q] = unpack_bits(data[span], header.num_frames, header.bits_per_code)
    return header, codes


def truncate(data: bytes, num_quantizers: int) -> bytes:
    """The same stream at the first `num_quantizers` quantizers (a lower bitrate), unchanged
    otherwise; every block's length and CRC is checked first (entropy-coded blocks are not
    decoded, so no tables are needed)."""
    header = read_header(data)
    spans = _payloads(data, header)
    if not 1 <= num_quantizers <= header.num_quantizers:
        raise ValueError(f"n_q={num_quantizers} outside 1..{header.num_quantizers}")
    kept = dataclasses.replace(header, num_quantizers=num_quantizers)
    return kept.pack() + data[header.size: spans[num_quantizers - 1].stop + _CRC.size]


def bits_per_second(header: Header) -> float:
    """The nominal bitrate of bit-packed codes: frames/s x n_q x bits per code (no header,
    CRCs or entropy coding; see actual_bits_per_second)."""
    return header.sample_rate / header.frame_size * header.num_quantizers * header.bits_per_code


def actual_bits_per_second(num_bytes: int, header: Header) -> float:
    """The real bitrate of a whole stream of `num_bytes` (header and CRCs included) over the
    audio it codes, num_frames x frame_size / sample_rate seconds; ValueError without frames."""
    if header.num_frames == 0:
        raise ValueError("a stream of no frames has no bitrate")
    return num_bytes * 8 * header.sample_rate / (header.num_frames * header.frame_size)
