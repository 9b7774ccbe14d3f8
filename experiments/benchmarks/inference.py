"""Inference benchmark: how many times faster than real time sscodec encodes and decodes, offline
and streaming, on one core and on all cores, beside EnCodec 24 kHz and Opus on the same audio.

Run (one table; each measurement runs in its own process pinned to the cores it names, since
XLA's thread pool is fixed at start-up; compare ratios within one run):
  python experiments/benchmarks/inference.py
  python experiments/benchmarks/inference.py --configs tiny --seconds 5 --no-peers
  python experiments/benchmarks/inference.py --startup       # start-up of compress/decompress
  python experiments/benchmarks/inference.py --configs soundstream_24khz,speech_16khz_lowlatency \
      --chunks 1 --no-peers --one-core                        # live calls: one frame per call

Figures: "x RT" is audio seconds coded per wall second (above 1 is faster than real time). All
codecs run at 6 kbps (the tiny model at its highest, 1.8 kbps). Streaming pushes N frames (N x the
model's frame of audio) at a time through the encoder and straight into the decoder, as a live call
would, and reports the median and 99th percentile of the per-call compute time next to the chunk's
duration (a live call needs the p99 well under a frame); one-frame pushes run through
sscodec.codec.streaming's FrameStep, and "1f %" is their share of the CPU peak (the steps' own XLA FLOPs,
weights folded in, per audio second, times the x RT; for native kernels, --kernels, the products
they are handed); below the table, the memory floor of such a
call (one read of the weights it uses, as one buffer) and the share of peak that floor allows. GFLOP
per audio second come from XLA's cost analysis of the offline functions (counting every RVQ stage:
an upper bound below full depth); the CPU peak is the best of a large float32 matmul on the same
cores, so "% peak" is the share of what this CPU reaches on the friendliest possible work. Weights
are random (speed does not depend on them); EnCodec is built with random weights too (`pip install
torch==2.13.0 encodec`, then `pip uninstall torchaudio`: the platform notes explain), Opus is
opusenc/opusdec (`apt-get install opus-tools`; without them libopus through PyAV), codec2 is
pycodec2 at 3.2 kbps, frame by frame (its "stream 1f" is encode plus decode of each 20 ms frame).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")
KBPS = 6.0  # every codec runs at this bitrate (or its highest below it)


def _speech(seconds: float, rate: int = 24000):
    """`seconds` of the embedded speech at `rate`, files joined end to end."""
    import numpy as np
    import soundfile as sf
    import soxr
    parts, total = [], 0
    for name in sorted(os.listdir(SPEECH)):
        x, r = sf.read(os.path.join(SPEECH, name), dtype="float32", always_2d=True)
        parts.append(soxr.resample(x.mean(1), r, rate).astype(np.float32))
        total += len(parts[-1])
        if total >= seconds * rate:
            break
    return np.concatenate(parts)[: int(seconds * rate)]


def _flops(compiled) -> float:
    """XLA's count of a compiled function's floating-point operations."""
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis.get("flops", 0.0))


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# ---------------------------------------------------------------------------- workers


def sscodec_worker(name: str, seconds: float, repeats: int, chunks: list[int],
                   frame_step: bool = True, kernels: str = "xla") -> dict:
    """Exports `name` with random weights, then times the bundle's Codec (in this process).
    `frame_step=False` streams every call through the general steps (the A/B of FrameStep);
    `kernels` is the streams' (Codec.stream_encoder): with native kernels the row also says how
    many one-frame codes equal offline encoding's and the streamed audio's SNR against XLA's."""
    import jax
    import numpy as np

    from sscodec.codec import streaming
    if not frame_step:
        streaming.REALTIME_FRAMES = 1  # no push has fewer frames: FrameStep never runs

    from sscodec.codec import Codec
    from sscodec.config import load_config, samples_per_frame
    from sscodec.codec.export import inference_config, initial_weights, write_bundle

    config = inference_config(load_config(os.path.join(ROOT, "experiments", f"{name}.py")))
    weights = initial_weights(config)
    frame = samples_per_frame(config)
    out = tempfile.mkdtemp()
    try:
        write_bundle(config, weights, os.path.join(out, "bundle"))
        codec = Codec.load(os.path.join(out, "bundle"))
    finally:
        shutil.rmtree(out)
    audio = _speech(seconds, codec.sample_rate)
    audio = audio[: len(audio) // frame * frame]
    seconds = len(audio) / codec.sample_rate

    kbps = max([r for r in codec.bitrates if r <= KBPS + 1e-6] or codec.bitrates[:1])
    codes = codec.encode(audio, codec.sample_rate, kbps)  # compiles
    codec.decode(codes)
    encode_s = _best(lambda: codec.encode(audio, codec.sample_rate, kbps), repeats)
    decode_s = _best(lambda: codec.decode(codes), repeats)

    def stream_once(frames: int) -> list[float]:
        encoder = codec.stream_encoder(kbps, kernels=kernels)
        decoder = codec.stream_decoder(kernels=kernels)
        per_chunk, step = [], frames * frame
        for i in range(0, len(audio), step):
            t0 = time.perf_counter()
            decoder.push(encoder.push(audio[i: i + step]))
            per_chunk.append(time.perf_counter() - t0)
        return per_chunk

    agreement = {}
    if kernels != "xla" and 1 in chunks:  # what the kernels change, on the same audio
        def one_frame_stream(which):
            encoder = codec.stream_encoder(kbps, kernels=which)
            decoder = codec.stream_decoder(kernels=which)
            pairs = [(c, decoder.push(c)) for c in
                     (encoder.push(audio[i: i + frame]) for i in range(0, len(audio), frame))]
            return np.concatenate([c for c, _ in pairs]), np.concatenate([a for _, a in pairs])
        ref_codes, ref_audio = one_frame_stream("xla")
        got_codes, got_audio = one_frame_stream(kernels)
        noise = np.sum((got_audio - ref_audio) ** 2)
        agreement = {"codes_match": float(np.mean(got_codes == ref_codes)),
                     "audio_snr_db": float(10 * np.log10(np.sum(ref_audio ** 2) / max(noise, 1e-30)))}

    streaming = {}
    for frames in chunks:
        stream_once(frames)  # compiles this chunk's steps
        per_chunk = min((stream_once(frames) for _ in range(repeats)), key=sum)
        streaming[f"stream{frames}_x"] = seconds / sum(per_chunk)
        streaming[f"stream{frames}_p50_ms"] = 1000 * float(np.percentile(per_chunk, 50))
        streaming[f"stream{frames}_p99_ms"] = 1000 * float(np.percentile(per_chunk, 99))
    if 1 in chunks and frame_step:  # the one-frame steps' FLOPs (weights folded in, as they run)
        n_q = codec.num_quantizers_for(kbps)
        flops = 0.0
        for kind, x in (("encode", audio[None, :frame]),
                        ("decode", np.zeros((1, 1, codec.num_quantizers), np.int32))):
            if kernels == "xla":
                step = codec._frame_step(kind, n_q, 0)
                flops += _flops(step.step.lower(step.zero(), x).compile())
            else:  # XLA cannot see into the kernel: count the products it is handed
                flops += _native_flops(codec, kind, n_q, x)
        streaming["stream1_gflops"] = flops / 1e9 * codec.frame_rate * streaming["stream1_x"]
        # The memory floor of a one-frame call: one read of the weights it uses (a jitted sum
        # over them, an argument so nothing folds), against the FLOPs it does.
        codebooks = codec._weights["quantizer"]["quantizer"]["codebook"][:n_q]
        used = jax.numpy.concatenate([leaf.reshape(-1) for leaf in
                                      jax.tree.leaves(codec._weights["params"]) + [codebooks]])
        read = jax.jit(jax.numpy.sum)  # one buffer: the bytes, not per-tensor overhead
        jax.block_until_ready(read(used))
        floor_s = _best(lambda: jax.block_until_ready(read(used)), max(repeats, 20))
        streaming["stream1_weights_mib"] = used.nbytes / 2 ** 20
        streaming["stream1_floor_ms"] = 1000 * floor_s
        streaming["stream1_floor_gflops"] = flops / 1e9 / floor_s  # the ceiling it allows

    length = jax.ShapeDtypeStruct((1, codec.sample_rate), np.float32)
    cost = {}
    for what, fn, args in (
            ("encode", codec._functions["encode"],
             (codec._weights, length, np.int32(codec.num_quantizers), np.int32(0))),
            ("decode", codec._functions["decode"], (codec._weights, jax.ShapeDtypeStruct(
                (1, round(codec.frame_rate), codec.num_quantizers), np.int32),
                np.int32(codec.num_quantizers), np.int32(0)))):
        cost[what] = _flops(jax.jit(fn.call).lower(*args).compile())
    label = ("" if frame_step else " (no FrameStep)") + ("" if kernels == "xla" else f" ({kernels})")
    return {"name": f"{name} {kbps:g} kbps{label}", "seconds": seconds,
            "frame_ms": 1000 * frame / codec.sample_rate,
            "encode_x": seconds / encode_s, "decode_x": seconds / decode_s,
            **streaming, **agreement,
            "gflop_per_audio_s": (cost["encode"] + cost["decode"]) / 1e9,
            "gflops_achieved": (cost["encode"] + cost["decode"]) / 1e9 * seconds
                               / (encode_s + decode_s)}


def _native_flops(codec, kind: str, n_q: int, x) -> float:
    """FLOPs of a native one-frame step: 2 K Cin Cout per output step of every conv it hands the
    native kernels, and 2 N D per RVQ stage; the rest (activations, adds) is noise. These are
    the outputs it needs: XLA's steps also compute one dropped output per conv."""
    import jax
    import numpy as np

    from sscodec.nn.conv import conv_implementation

    function, kernels = codec._native_step(kind, "float32")
    total = []

    class Counting:
        def __call__(self, x, kernel, bias, stride, dilation, **fused):
            k, cin, cout = kernel.shape
            context = fused.get("context")
            steps = (x.shape[1] + (0 if context is None else context.shape[1])
                     - fused.get("skip", 0))
            total.append(2 * ((steps - (k - 1) * dilation - 1) // stride + 1) * k * cin * cout)
            return kernels(x, kernel, bias, stride, dilation, **fused)

        def residual_quantize(self, x, codebooks, sqnorms):
            total.append(2 * x.shape[0] * codebooks.size)
            return kernels.residual_quantize(x, codebooks, sqnorms)

    step = codec._frame_step(kind, n_q, 0)  # the state's shape
    with conv_implementation(Counting()):
        jax.eval_shape(lambda s: function(codec._weights, s, x, np.int32(n_q), np.int32(0)),
                       step.unpack(step.zero()))
    return float(sum(total))


def peak_worker(repeats: int) -> dict:
    """The best float32 GFLOP/s of a 2048^2 matmul on these cores: a practical peak."""
    import jax
    import jax.numpy as jnp
    a = jnp.ones((2048, 2048), jnp.float32)
    mm = jax.jit(lambda a: a @ a)
    mm(a).block_until_ready()
    best = _best(lambda: mm(a).block_until_ready(), max(repeats, 20))
    return {"peak_gflops": 2 * 2048 ** 3 / best / 1e9}


def encodec_worker(seconds: float, repeats: int, threads: int) -> dict:
    """EnCodec 24 kHz at KBPS, random weights, offline (it has no streaming API)."""
    import types
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))  # see the docstring
    import torch
    from encodec import EncodecModel
    torch.set_num_threads(threads)
    model = EncodecModel.encodec_model_24khz(pretrained=False)
    model.set_target_bandwidth(KBPS)
    audio = torch.from_numpy(_speech(seconds))[None, None]
    seconds = audio.shape[-1] / 24000
    with torch.no_grad():
        frames = model.encode(audio)
        model.decode(frames)
        encode_s = _best(lambda: model.encode(audio), repeats)
        decode_s = _best(lambda: model.decode(frames), repeats)
    return {"name": f"EnCodec {KBPS:g} kbps", "encode_x": seconds / encode_s,
            "decode_x": seconds / decode_s}


def opus_worker(seconds: float, repeats: int, kbps: float = KBPS) -> dict:
    """Opus at `kbps` on the same audio, single-threaded: opusenc / opusdec on a WAV where
    opus-tools are installed, else libopus through PyAV (as sscodec.evaluation.baselines runs it)."""
    import soundfile as sf
    audio = _speech(seconds)
    seconds = len(audio) / 24000
    if not (shutil.which("opusenc") and shutil.which("opusdec")):
        encode_s, decode_s = _opus_pyav_seconds(audio, kbps, repeats)
        return {"name": f"Opus {kbps:g} kbps (PyAV)", "encode_x": seconds / encode_s,
                "decode_x": seconds / decode_s}
    with tempfile.TemporaryDirectory() as tmp:
        wav, opus, out = (os.path.join(tmp, n) for n in ("in.wav", "x.opus", "out.wav"))
        sf.write(wav, audio, 24000)
        enc = ["opusenc", "--quiet", "--bitrate", str(kbps), wav, opus]
        dec = ["opusdec", "--quiet", "--rate", "24000", opus, out]
        encode_s = _best(lambda: subprocess.run(enc, check=True), repeats)
        decode_s = _best(lambda: subprocess.run(dec, check=True), repeats)
    return {"name": f"Opus {kbps:g} kbps", "encode_x": seconds / encode_s,
            "decode_x": seconds / decode_s}


def _opus_pyav_seconds(audio, kbps: float, repeats: int) -> tuple[float, float]:
    """Best encode and decode seconds of 24 kHz `audio` with libopus through PyAV (in memory)."""
    import io

    import av
    import soxr
    x = soxr.resample(audio, 24000, 48000).astype("float32")[None, :]
    data = {}

    def encode():
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="ogg") as container:
            stream = container.add_stream("libopus", rate=48000, layout="mono")
            stream.bit_rate = round(kbps * 1000)
            stream.codec_context.format = "flt"
            frame = av.AudioFrame.from_ndarray(x, format="flt", layout="mono")
            frame.sample_rate = 48000
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                container.mux(packet)
        data["ogg"] = buffer.getvalue()

    def decode():
        with av.open(io.BytesIO(data["ogg"]), "r") as container:
            return [f.to_ndarray() for f in container.decode(audio=0)]

    encode_s = _best(encode, repeats)
    return encode_s, _best(decode, repeats)


def codec2_worker(seconds: float, repeats: int, mode: int = 3200) -> dict:
    """codec2 (libcodec2 via pycodec2, 8 kHz) frame by frame, as it always runs: encode, decode,
    and the per-frame latency of encode plus decode."""
    import numpy as np
    import pycodec2
    import soxr
    pcm = np.round(soxr.resample(_speech(seconds), 24000, 8000) * 32767).astype(np.int16)
    c2 = pycodec2.Codec2(mode)
    step = c2.samples_per_frame()
    frames = [pcm[i: i + step] for i in range(0, len(pcm) - step + 1, step)]
    seconds = len(frames) * step / 8000
    bits = [c2.encode(f) for f in frames]
    encode_s = _best(lambda: [c2.encode(f) for f in frames], repeats)
    decode_s = _best(lambda: [c2.decode(b) for b in bits], repeats)
    per_frame = []
    for f in frames:
        t0 = time.perf_counter()
        c2.decode(c2.encode(f))
        per_frame.append(time.perf_counter() - t0)
    return {"name": f"codec2 {mode / 1000:g} kbps", "frame_ms": 1000 * step / 8000,
            "encode_x": seconds / encode_s, "decode_x": seconds / decode_s,
            "stream1_x": seconds / sum(per_frame),
            "stream1_p50_ms": 1000 * float(np.percentile(per_frame, 50)),
            "stream1_p99_ms": 1000 * float(np.percentile(per_frame, 99))}


def startup_rows(model: str, repeats: int) -> list[dict]:
    """Wall seconds of `sscodec compress` / `decompress` of a 1 s file: the first call on a
    machine (empty compilation cache) and later ones (best of `repeats`), and opusdec's."""
    import soundfile as sf
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wav, ssc, out = (os.path.join(tmp, n) for n in ("in.wav", "x.ssc", "out.wav"))
        sf.write(wav, _speech(1.0), 24000)
        env = dict(os.environ, SSCODEC_CACHE_DIR=os.path.join(tmp, "cache"))
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        commands = {"compress": ["compress", wav, ssc, "--model", model],
                    "decompress": ["decompress", ssc, out, "--model", model]}
        times = {name: [] for name in commands}
        for _ in range(1 + repeats):
            for name, args in commands.items():
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "sscodec.cli", *args], env=env, cwd=ROOT,
                               check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
        for name, t in times.items():
            rows.append({"name": f"sscodec {name}", "first_s": t[0], "later_s": min(t[1:])})
        if shutil.which("opusenc") and shutil.which("opusdec"):
            subprocess.run(["opusenc", "--quiet", wav, os.path.join(tmp, "x.opus")], check=True)
            dec = ["opusdec", "--quiet", os.path.join(tmp, "x.opus"), out]
            t = [_best(lambda: subprocess.run(dec, check=True), 1) for _ in range(1 + repeats)]
            rows.append({"name": "opusdec", "first_s": t[0], "later_s": min(t[1:])})
    return rows


# ---------------------------------------------------------------------------- driver


def _run(args: list[str], cores: list[int]) -> dict:
    """Runs this script's worker mode pinned to `cores`, with XLA's pools sized to them."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS=str(len(cores)))
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                        f"{'true' if len(cores) > 1 else 'false'}"
                        f" intra_op_parallelism_threads={len(cores)}").strip()
    command = ["taskset", "-c", ",".join(map(str, cores)), sys.executable, __file__, "--worker",
               *args, "--threads", str(len(cores))]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="tiny,soundstream_24khz",
                        help="experiment names, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length")
    parser.add_argument("--repeats", type=int, default=3, help="best of N")
    parser.add_argument("--chunks", default="1,2,4",
                        help="streaming chunk sizes in frames, comma-separated")
    parser.add_argument("--no-peers", action="store_true",
                        help="skip EnCodec, Opus and codec2")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead")
    parser.add_argument("--one-core", action="store_true", help="skip the all-cores rows")
    parser.add_argument("--no-frame-step", action="store_true",
                        help="also time each model with streaming through the general steps "
                             "only (sscodec.codec.streaming.FrameStep off), for the A/B")
    parser.add_argument("--kernels", default="xla",
                        help="comma list of stream kernels to compare (xla, native, native-bf16: "
                             "Codec.stream_encoder); each model gets a row per kernel")
    parser.add_argument("--startup", metavar="MODEL", nargs="?", const="speech_cpu_24khz",
                        help="only time the commands' start: compress / decompress of a 1 s file "
                             "with MODEL (default speech_cpu_24khz), first and later calls")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    chunks = [int(c) for c in args.chunks.split(",")]

    if args.startup:
        print(f"start-up of the codec commands on a 1 s file ({args.startup}); first call: "
              "empty compilation cache")
        print(f"{'command':<22}{'first s':>9}{'later s':>9}")
        for r in startup_rows(args.startup, args.repeats):
            print(f"{r['name']:<22}{r['first_s']:>9.2f}{r['later_s']:>9.2f}")
        return
    if args.worker:
        if args.worker == "peak":
            row = peak_worker(args.repeats)
        elif args.worker == "encodec":
            row = encodec_worker(args.seconds, args.repeats, args.threads)
        elif args.worker == "opus":
            row = opus_worker(args.seconds, args.repeats)
        elif args.worker == "codec2":
            row = codec2_worker(args.seconds, args.repeats)
        else:
            row = sscodec_worker(args.worker, args.seconds, args.repeats, chunks,
                                 frame_step=not args.no_frame_step, kernels=args.kernels)
        print(json.dumps(row))
        return

    all_cores = sorted(os.sched_getaffinity(0))
    rows = []
    core_sets = [[all_cores[0]]] + ([all_cores] if len(all_cores) > 1 and not args.one_core else [])
    for cores in core_sets:
        common = ["--seconds", str(args.seconds), "--repeats", str(args.repeats),
                  "--chunks", args.chunks]
        peak = _run(["peak", *common], cores).get("peak_gflops", float("nan"))
        models = [name.strip() for name in args.configs.split(",")]
        workers = list(models)
        if not args.no_peers:
            workers += ["encodec", "opus", "codec2"]
        runs = [[w] for w in workers]
        extra = [[m, "--kernels", k] for m in models for k in args.kernels.split(",")
                 if k != "xla"]
        if args.no_frame_step:
            extra = [[m, "--no-frame-step"] for m in models] + extra
        runs[len(models):len(models)] = extra
        for run in runs:
            row = _run([*run, *common], cores)
            row.setdefault("name", " ".join(run))
            row.update(cores=len(cores), peak_gflops=peak)
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
    if not args.json:
        print(f"{args.seconds:g} s of speech (at each model's rate); x RT = audio seconds per wall "
              "second; stream Nf: encode+decode pushing N frames per call (frame: the model's), "
              "then the median and 99th percentile ms per call; % peak: offline (enc+dec), and "
              "streaming one frame per call")
        streams = "".join(f"{f'stream {n}f':>10}{'p50 ms':>8}{'p99 ms':>8}" for n in chunks)
        width = max([34] + [len(r["name"]) + 2 for r in rows])
        print(f"{'codec':<{width}}{'cores':>6}{'frame':>7}{'encode':>9}{'decode':>9}{streams}"
              f"{'GFLOP/audio-s':>15}{'GFLOP/s':>9}{'% peak':>8}{'1f %':>6}")
        for r in rows:
            if "error" in r:
                print(f"{r['name']:<{width}}{r['cores']:>6}  {r['error']}")
                continue
            cell = lambda key, fmt, unit="": (format(r[key], fmt) + unit if key in r
                                              else "-".rjust(len(format(0.0, fmt)) + len(unit)))
            share = lambda key, width: (f"{100 * r[key] / r['peak_gflops']:>{width}.0f}"
                                        if key in r else "-".rjust(width))
            streams = "".join(cell(f"stream{n}_x", ">9.1f", "x")
                              + cell(f"stream{n}_p50_ms", ">8.2f")
                              + cell(f"stream{n}_p99_ms", ">8.2f") for n in chunks)
            print(f"{r['name']:<{width}}{r['cores']:>6}{cell('frame_ms', '>5.1f', 'ms')}"
                  f"{cell('encode_x', '>8.1f', 'x')}{cell('decode_x', '>8.1f', 'x')}{streams}"
                  f"{cell('gflop_per_audio_s', '>15.2f')}{cell('gflops_achieved', '>9.1f')}"
                  f"{share('gflops_achieved', 8)}{share('stream1_gflops', 6)}")
        for r in rows:
            if "stream1_floor_ms" in r:
                print(f"{r['name']} ({r['cores']} core(s)): one-frame calls read "
                      f"{r['stream1_weights_mib']:.1f} MiB of weights; reading them once takes "
                      f"{r['stream1_floor_ms']:.2f} ms (p50 of a call: {r['stream1_p50_ms']:.2f} "
                      f"ms), a ceiling of "
                      f"{100 * r['stream1_floor_gflops'] / r['peak_gflops']:.0f}% of peak")
        for r in rows:
            if "codes_match" in r:
                print(f"{r['name']}: one-frame codes equal XLA's {100 * r['codes_match']:.2f}%, "
                      f"streamed audio {r['audio_snr_db']:.1f} dB SNR against XLA's")
        print("CPU peak (float32 matmul): " + ", ".join(
            f"{r['peak_gflops']:.0f} GFLOP/s on {r['cores']} core(s)"
            for r in {r['cores']: r for r in rows}.values()))


if __name__ == "__main__":
    main()
