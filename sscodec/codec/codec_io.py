"""Files <-> .ssc streams with a `Codec`: what `sscodec compress` and `decompress` run.

Paths may be "-" for stdin / stdout. compress reads any format soundfile reads (resampling to
the codec's rate; a mono codec mixes channels down, a C-channel codec duplicates a mono file into
every channel); decompress writes a WAV (a FLAC for a .flac path) at the original rate and length,
with the codec's channels.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import soundfile as sf

from sscodec.codec import bitstream, Codec


def _read_bytes(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _write_bytes(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with open(path, "wb") as f:
            f.write(data)


def encode_to_stream(codec: Codec, audio: np.ndarray, rate: int, kbps: float | None = None,
                     entropy: bool = True, denoise: bool = False, progress: bool = False
                     ) -> tuple[bitstream.Header, bytes]:
    """Audio [T] or [T, C] at `rate` -> (header, .ssc bytes), entropy coded when `entropy` and
    the bundle has tables."""
    audio = np.asarray(audio, np.float32)
    if not np.isfinite(audio).all():
        raise ValueError("the audio holds non-finite samples")
    codes = codec.encode(audio, rate, kbps, denoise=denoise, progress=progress)
    tables = codec.entropy_tables if entropy else None
    flags = ((bitstream.FLAG_ENTROPY if tables is not None else 0)
             | (bitstream.FLAG_DENOISE if denoise else 0))
    header = bitstream.Header(
        model_hash=codec.model_hash, sample_rate=codec.sample_rate, frame_size=codec.frame_size,
        num_quantizers=codes.shape[1], bits_per_code=codec.bits_per_code,
        num_frames=codes.shape[0], original_length=len(audio), original_rate=rate, flags=flags,
        channels=codec.channels)
    return header, bitstream.write(codes, header, tables)


def compress(codec: Codec, in_path: str, out_path: str, kbps: float | None = None,
             entropy: bool = True, denoise: bool = False) -> tuple[bitstream.Header, int]:
    """Encodes an audio file into an .ssc stream, entropy coded when `entropy` and the bundle
    has tables; returns the stream's header and size in bytes."""
    try:
        audio, rate = sf.read(io.BytesIO(_read_bytes(in_path)), dtype="float32", always_2d=True)
    except sf.LibsndfileError as e:
        raise ValueError(f"cannot read audio from {in_path}: {e}") from None
    if not np.isfinite(audio).all():
        raise ValueError(f"{in_path} holds non-finite samples")
    header, data = encode_to_stream(codec, audio, rate, kbps, entropy, denoise, progress=True)
    _write_bytes(out_path, data)
    return header, len(data)


def decode_from_stream(codec: Codec, data: bytes, progress: bool = False
                       ) -> tuple[bitstream.Header, np.ndarray]:
    """.ssc bytes -> (header, audio at the codec's rate, frames x frame_size samples: [T] or
    [T, C]). A stream of another model is refused, naming the installed model that wrote it if
    there is one."""
    header = bitstream.read_header(data)
    if header.model_hash != codec.model_hash:
        from sscodec.pretrained import name_for_hash
        maker = name_for_hash(header.model_hash)
        hint = f"; the installed model {maker!r} wrote it: pass --model {maker}" if maker else ""
        raise bitstream.BitstreamError(
            f"this .ssc stream was written by another model ({header.model_hash.hex()[:12]}, not "
            f"{codec.model_hash.hex()[:12]} of {codec.name or 'this model'}){hint}")
    bitstream.check_model(header, codec.sample_rate, codec.frame_size, codec.bits_per_code,
                          codec.num_quantizers, codec.channels)
    header, codes = bitstream.read(data, model_hash=codec.model_hash, tables=codec.entropy_tables)
    # The denoise flag matters to a model whose FiLM sits at the decoder.
    audio = codec.decode(codes, denoise=header.denoise and codec.film == "decoder",
                         progress=progress)
    return header, audio


def decompress(codec: Codec, in_path: str, out_path: str) -> tuple[bitstream.Header, int]:
    """Decodes an .ssc stream into 16-bit PCM at its original rate and length, with the
    stream's channels: a FLAC when `out_path` ends in .flac, else a WAV (stdout too); returns
    the stream's header and size in bytes."""
    data = _read_bytes(in_path)
    header, audio = decode_from_stream(codec, data, progress=True)
    if header.original_rate != codec.sample_rate:
        import soxr
        audio = soxr.resample(audio, codec.sample_rate, header.original_rate).astype(np.float32)
    padding = [(0, max(0, header.original_length - len(audio)))] + [(0, 0)] * (audio.ndim - 1)
    audio = np.pad(audio, padding)
    out = io.BytesIO()
    kind = "FLAC" if out_path.lower().endswith(".flac") else "WAV"
    sf.write(out, np.clip(audio[: header.original_length], -1.0, 1.0), header.original_rate,
             format=kind, subtype="PCM_16")
    _write_bytes(out_path, out.getvalue())
    return header, len(data)
