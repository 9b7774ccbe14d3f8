"""Fuzz benchmark of the .ssc reader: random damage and a forger's files, counted by outcome.

Run (about a minute for the defaults; the suite runs a few hundred cases of each in
tests/test_bitstream.py):
  python experiments/benchmarks/fuzz_bitstream.py
  python experiments/benchmarks/fuzz_bitstream.py --cases 100000 --decode 30 --model speech_cpu_24khz

Starting from real streams (a real clip compressed by the installed model, entropy coded and
bit-packed, at every bitrate), each case is read the way `sscodec decompress` reads it: the
header, the model check, every block's length and CRC, the entropy decoder. Two kinds of case:
  random   flipped bits, truncations, appended or spliced junk, as a disk or a network would do;
           any of them accepted counts as a silent wrong output (the CRCs must catch them all).
  forged   what a forger can do with a valid CRC: random header fields (full range), random
           bytes in the header or in a block with the CRCs recomputed, cut or padded blocks with
           the CRCs recomputed. Accepting one is fine if what was read keeps the format's promises
           (codes of the header's shape and width, output length within the frames' bound,
           frames within 16 per payload byte); breaking one counts as a silent wrong output.
Any exception other than BitstreamError is a crash. `--decode N` also runs the neural decoder
and the WAV writing of `decompress` on the first N accepted forged files and checks their length.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import time
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sscodec.codec import bitstream  # noqa: E402
from sscodec.codec.bitstream import BitstreamError  # noqa: E402

SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")
FIELDS = {"sample_rate": 32, "frame_size": 16, "num_quantizers": 8, "bits_per_code": 8,
          "num_frames": 32, "original_length": 64, "original_rate": 32, "flags": 16}


def _damage(good: bytes, rng: np.random.Generator) -> bytes:
    kind = rng.integers(4)
    i = int(rng.integers(len(good)))
    if kind == 0:
        return good[:i] + bytes([good[i] ^ (1 << int(rng.integers(8)))]) + good[i + 1:]
    if kind == 1:
        return good[:i]
    junk = rng.bytes(int(rng.integers(1, 9)))
    if kind == 2:
        return good + junk
    bad = good[:i] + junk + good[i + len(junk):]
    return bad if bad != good else _damage(good, rng)


def _recrc_blocks(data: bytes, header: bitstream.Header) -> bytes:
    """Recomputes each block's CRC where the block boundaries can still be found."""
    out, offset = bytearray(data), bitstream.HEADER_SIZE
    for _ in range(header.num_quantizers):
        if header.entropy_coded:
            if offset + 4 > len(out):
                break
            end = offset + 4 + int.from_bytes(out[offset: offset + 4], "little")
        else:
            end = offset + header.block_size - 4
        if end + 4 > len(out):
            break
        out[end: end + 4] = zlib.crc32(bytes(out[offset: end])).to_bytes(4, "little")
        offset = end + 4
    return bytes(out)


def _forge(good: bytes, rng: np.random.Generator) -> bytes:
    header = bitstream.read_header(good)
    kind = rng.integers(4)
    if kind == 0:  # random header fields, full range
        names = rng.choice(list(FIELDS), size=int(rng.integers(1, 4)), replace=False)
        fields = {n: int(rng.integers(0, 2 ** FIELDS[n], dtype=np.uint64)) for n in names}
        return dataclasses.replace(header, **fields).pack() + good[bitstream.HEADER_SIZE:]
    if kind == 1:  # random bytes in the header body, CRC recomputed (magic and version kept)
        body = bytearray(good[: bitstream.HEADER_SIZE - 4])
        for _ in range(int(rng.integers(1, 4))):
            body[int(rng.integers(8, len(body)))] = int(rng.integers(256))
        return bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "little") + good[bitstream.HEADER_SIZE:]
    data = bytearray(good)
    if kind == 2:  # random payload bytes, block CRCs recomputed
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(bitstream.HEADER_SIZE, len(data)))
            data[i] = int(rng.integers(256))
    else:  # a cut or padded payload with a recomputed CRC (and, entropy coded, length)
        i = int(rng.integers(bitstream.HEADER_SIZE, len(data)))
        data = data[:i] + rng.bytes(int(rng.integers(0, 9))) + data[i + int(rng.integers(0, 9)):]
    return _recrc_blocks(bytes(data), header)


def _promises_kept(h: bitstream.Header, codes: np.ndarray, size: int) -> bool:
    return (codes.shape == (h.num_frames, h.num_quantizers)
            and (codes.size == 0 or (codes.min() >= 0 and codes.max() < 2 ** h.bits_per_code))
            and h.num_frames <= 16 * size and h.original_length <= h.max_original_length)


def run(codec, streams: list[bytes], cases: int, seed: int, decode: int) -> dict:
    from tqdm import tqdm

    from sscodec.codec import codec_io
    rng = np.random.default_rng(seed)
    counts = {kind: {"refused": 0, "accepted": 0, "crash": 0, "silent_wrong": 0}
              for kind in ("random", "forged")}
    decoded, max_ratio = 0, 0.0
    start = time.perf_counter()
    for n in tqdm(range(2 * cases), desc="fuzz", mininterval=2.0):
        kind = "random" if n % 2 == 0 else "forged"
        good = streams[int(rng.integers(len(streams)))]
        bad = _damage(good, rng) if kind == "random" else _forge(good, rng)
        c = counts[kind]
        try:
            h = bitstream.read_header(bad)
            bitstream.check_model(h, codec.sample_rate, codec.frame_size, codec.bits_per_code,
                                  codec.num_quantizers)
            h, codes = bitstream.read(bad, codec.model_hash, codec.entropy_tables)
        except BitstreamError:
            c["refused"] += 1
            continue
        except Exception as e:  # noqa: BLE001 - what a fuzzer is for
            c["crash"] += 1
            print(f"crash ({kind}): {type(e).__name__}: {e}", file=sys.stderr)
            continue
        if bad == good:
            c["refused"] += 1  # a no-op mutation: nothing to refuse
            continue
        c["accepted"] += 1
        if kind == "random" or not _promises_kept(h, codes, len(bad)):
            c["silent_wrong"] += 1
            continue
        if decoded < decode:  # the whole of decompress on a forger's accepted file
            _, audio = codec_io.decode_from_stream(codec, bad)
            import soxr
            if h.original_rate != codec.sample_rate:
                audio = soxr.resample(audio, codec.sample_rate, h.original_rate)
            decoded += 1
            # decompress writes original_length samples; the float32 audio is the peak buffer
            peak = 4 * max(len(audio), h.original_length)
            max_ratio = max(max_ratio, peak / len(bad))
    return {"counts": counts, "seconds": time.perf_counter() - start, "decoded": decoded,
            "max_output_bytes_per_input_byte": max_ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases of each kind")
    parser.add_argument("--model", default="speech_cpu_24khz", help="installed model or bundle")
    parser.add_argument("--decode", type=int, default=20,
                        help="accepted forged files to decode all the way (neural decoder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import soundfile as sf

    from sscodec import Codec
    from sscodec.codec import codec_io
    codec = Codec.load(args.model)
    audio, rate = sf.read(os.path.join(SPEECH, sorted(os.listdir(SPEECH))[0]), dtype="float32")
    audio = audio[: rate]  # 1 s: small files make each mutation matter
    streams = [codec_io.encode_to_stream(codec, audio, rate, kbps, entropy)[1]
               for kbps in codec.bitrates for entropy in (True, False)]
    print(f"model {args.model}; {len(streams)} real streams of 1 s, {min(map(len, streams))}-"
          f"{max(map(len, streams))} bytes; {args.cases} cases of each kind")
    result = run(codec, streams, args.cases, args.seed, args.decode)
    print(f"\n{'kind':8} {'cases':>8} {'refused':>8} {'accepted':>9} {'crashes':>8} {'silent wrong':>13}")
    for kind, c in result["counts"].items():
        print(f"{kind:8} {sum(c[k] for k in ('refused', 'accepted', 'crash')):8d} {c['refused']:8d} "
              f"{c['accepted']:9d} {c['crash']:8d} {c['silent_wrong']:13d}")
    print(f"{result['seconds']:.1f} s ({2 * args.cases / result['seconds']:.0f} cases/s); "
          f"{result['decoded']} accepted forged files decoded in full, at most "
          f"{result['max_output_bytes_per_input_byte']:.0f} output bytes (float32) per input byte")


if __name__ == "__main__":
    main()
