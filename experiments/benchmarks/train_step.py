"""Train-step benchmark: compile time, step time, audio-seconds per second, XLA's FLOP and byte
counts, model-FLOP utilization against this CPU's measured matmul peak, a per-component profile,
and the PyTorch EnCodec GAN step as a peer, all in one run.

Run (one table; figures vary up to 2x between runs on shared CPUs, so compare within one run):
  python experiments/benchmarks/train_step.py
  python experiments/benchmarks/train_step.py --configs speech_cpu_24khz --profile --no_peer
  python experiments/benchmarks/train_step.py --configs tiny --steps 20 --no_peer
  python experiments/benchmarks/train_step.py --configs speech_cpu_24khz --gen_only --no_peer \
      --config.model.decoder_channels=24    # any --config.KEY=VALUE applies to every config

Each config's step is measured with the GAN half on (loss.adversarial_start_step=0);
--gen_only adds the reconstruction-only warm-up step. The paper config (soundstream_24khz) runs
at --paper_batch x --paper_crop_frames (default 4 x 1 s, the peer's batch) instead of 16 x 4 s.
MFU = XLA's cost-analysis FLOPs per step / step time / the peak, the peak being the median
GFLOP/s of a 4096^3 float32 matmul measured in the same run (XLA counts 2 FLOPs per MAC).
The PyTorch peer (experiments/benchmarks/encodec_peer.py) needs torch and encodec from
experiments/benchmarks/requirements-peer.txt; without them its row is skipped with a message.
The persistent compilation cache is off here so compile times are real.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sscodec.platforms import choose_platforms  # noqa: E402

choose_platforms()  # no TPU probing (and libtpu noise) where there is no TPU

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import linen as nn  # noqa: E402

from sscodec.nn import losses
from sscodec.train import parallel  # noqa: E402
from sscodec.config import load_config  # noqa: E402
from sscodec.nn.discriminators import STFTDiscriminator, WaveDiscriminator  # noqa: E402
from sscodec.nn.conv import ConvStyle  # noqa: E402
from sscodec.nn.soundstream import SoundStream  # noqa: E402
from sscodec.train.state import build_models, create_state, crop_length  # noqa: E402
from sscodec.train.step import compile_train_step  # noqa: E402


def _cost(compiled) -> tuple[float, float]:
    """(FLOPs, bytes accessed) from XLA's cost analysis of a compiled function."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    cost = cost or {}
    return float(cost.get("flops", float("nan"))), float(cost.get("bytes accessed", float("nan")))


def _time(fn, args, runs: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_peak(n: int = 4096, runs: int = 5) -> float:
    """This machine's float32 matmul rate now (GFLOP/s): the MFU denominator."""
    a = jnp.ones((n, n), jnp.float32) * 0.5
    f = jax.jit(lambda a, b: a @ b)
    return 2 * n ** 3 / _time(f, (a, a), runs) / 1e9


def measure(name: str, overrides: list[str], steps: int, devices: list | None = None,
            keep: bool = False) -> dict:
    """Compiles and times the train step of experiments/NAME.py on `devices` (default: all).

    In a multi-process run every process calls this and feeds its share of the batch."""
    config = load_config(os.path.join(ROOT, "experiments", f"{name}.py"), overrides)
    mesh = parallel.make_mesh(config.mesh, devices)
    models = build_models(config)
    t0 = time.perf_counter()
    state = create_state(models, config, mesh)
    jax.block_until_ready(state)
    init_s = time.perf_counter() - t0
    b, length = config.data.batch_size, crop_length(config)
    local = b // jax.process_count()
    rng = np.random.default_rng(jax.process_index())
    audio = (0.1 * rng.standard_normal((local, length))).astype(np.float32)
    batch = parallel.global_batch({"input": audio, "target": audio,
                                   "denoise": np.zeros(local, np.int32)}, mesh)
    t0 = time.perf_counter()
    step = compile_train_step(config, models, state, batch)
    compile_s = time.perf_counter() - t0
    state, metrics = step(state, batch)  # first call: k-means init of the codebooks
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    audio_s = b * length / config.sample_rate
    flops, bytes_accessed = _cost(step)
    context = {"_context": (config, models, state, batch)} if keep else {}
    return {**context, "config": name, "bytes_per_step": bytes_accessed * mesh.devices.size, "batch": f"{b} x {length / config.sample_rate:.2f} s",
            "batch_size": b, "devices": mesh.devices.size, "processes": jax.process_count(),
            "init_s": init_s, "compile_s": compile_s, "step_s": step_s,
            "audio_s_per_s": audio_s / step_s,
            "flops_per_step": flops * mesh.devices.size,  # cost analysis is per device
            "flops_per_audio_s": flops * mesh.devices.size / audio_s}


def _disc_gan_half(apply, params, target, recon):
    """One discriminator's share of the step's GAN half, exactly as step.py does it."""
    real_out, real_vjp = jax.vjp(lambda p: apply(p, target), params)
    real_features = jax.lax.stop_gradient(real_out)
    fake_out, fake_vjp = jax.vjp(apply, params, recon)
    d_adv = jax.grad(losses.hinge_generator_loss)(fake_out)
    d_feat = jax.grad(lambda f: losses.feature_matching_loss(real_features, f))(fake_out)
    g_adv, g_feat = fake_vjp(d_adv)[1], fake_vjp(d_feat)[1]
    d_real, d_fake = jax.grad(losses.hinge_discriminator_loss, argnums=(0, 1))(
        real_out, jax.lax.stop_gradient(fake_out))
    grads = jax.tree.map(jnp.add, real_vjp(d_real)[0], fake_vjp(d_fake)[0])
    return g_adv, g_feat, grads


def profile(context, runs: int) -> list[tuple[str, float, float, float]]:
    """[(component, seconds, FLOPs, bytes)], each component jitted alone on the step's shapes."""
    config, models, state, batch = context
    gen, l, d = models.generator, config.loss, config.discriminator
    audio = jnp.asarray(batch["target"])
    key = jax.random.key(0)
    gen_vars = {"params": state["gen_params"], "quantizer": state["quantizer"]}
    rows = []

    def add(name, fn, *args):
        compiled = jax.jit(fn).lower(*args).compile()
        rows.append((name, _time(compiled, args, runs), *_cost(compiled)))

    def with_vjp(f, params, *rest):  # forward + backward with a unit cotangent
        out, vjp = jax.vjp(lambda p: f(p, *rest), params)
        return vjp(jax.tree.map(jnp.ones_like, out))

    rngs = {"dropout": key, "quantizer": key}
    emb = gen.apply(gen_vars, audio, method=SoundStream.embed)
    n_q = jnp.full((audio.shape[0],), config.quantizer.num_quantizers, jnp.int32)
    quantized = gen.apply(gen_vars, emb, n_q, method=lambda m, e, n: m.quantizer(e, n)[0])

    def full(p, a):
        (recon, aux), _ = gen.apply({"params": p, "quantizer": state["quantizer"]}, a, None,
                                    train=True, rngs=rngs, mutable=["quantizer"])
        return recon, aux["commit_loss"]
    add("generator fwd+bwd (enc, RVQ, dec)", lambda p, a: with_vjp(full, p, a), gen_vars["params"], audio)
    add("  encoder fwd+bwd", lambda p, a: with_vjp(
        lambda p, a: gen.apply({"params": p}, a, method=SoundStream.embed), p, a),
        gen_vars["params"], audio)
    add("  RVQ train (search, EMA, dead codes)", lambda v, e: gen.apply(
        v, e, n_q, method=lambda m, e, n: m.quantizer(e, n, train=True), rngs=rngs,
        mutable=["quantizer"]), gen_vars, emb)
    add("  decoder fwd+bwd", lambda p, q: with_vjp(
        lambda p, q: gen.apply({"params": p}, q, method=SoundStream.synthesize), p, q),
        gen_vars["params"], quantized)
    recon = audio * 0.9 + 0.01 * jnp.sin(jnp.arange(audio.shape[-1]) * 0.1)
    for w, n in zip(l.mel_windows, losses.mel_bins_per_window(l.mel_windows, l.mel_bins)):
        add(f"mel loss + grad, window {w}, {n} bins", jax.value_and_grad(
            lambda t, r, w=w, n=n: losses.multiscale_mel_loss(t, r, config.sample_rate, (w,), n,
                                                         l.log_epsilon, l.mel_l1, l.log_floor,
                                                         l.mel_loss), 1),
            audio, recon)
    disc_params = state["disc_params"]
    style = ConvStyle(d.conv_init, d.weight_norm)
    stft = STFTDiscriminator(d.stft_channels, d.stft_window, d.stft_hop, None, style)
    add("disc STFT: GAN half (fwd x2, grads)", lambda p, t, r: _disc_gan_half(
        lambda p, a: [stft.apply({"params": p}, a)], p, t, r), disc_params["stft"], audio, recon)
    wave = WaveDiscriminator(d.wave_channels, d.wave_max_channels, tuple(d.wave_groups),
                             d.grouped_conv, None, style)
    pool = lambda x: nn.avg_pool(x[..., None], (4,), strides=(2,), padding=((1, 1),),
                                 count_include_pad=False)[..., 0]
    t, r = audio, recon
    for i in range(d.wave_scales):
        if i > 0:
            t, r = pool(t), pool(r)
        add(f"disc wave scale {i}: GAN half", lambda p, t, r: _disc_gan_half(
            lambda p, a: [wave.apply({"params": p}, a)], p, t, r),
            disc_params["wave"][f"scale{i}"], t, r)
    grads = jax.tree.map(jnp.ones_like, gen_vars["params"])
    add("generator Adam update", lambda g, o, p: optax.apply_updates(
        p, models.gen_tx.update(g, o, p)[0]), grads, state["gen_opt"], gen_vars["params"])
    dgrads = jax.tree.map(jnp.ones_like, disc_params)
    add("discriminators Adam update", lambda g, o, p: optax.apply_updates(
        p, models.disc_tx.update(g, o, p)[0]), dgrads, state["disc_opt"], disc_params)
    return rows


def print_profile(rows, step_s: float, peak: float) -> None:
    print(f"  {'component':<38} {'ms':>8} {'share':>6} {'GFLOP':>7} {'GB':>6} {'GFLOP/s':>8} {'MFU':>6}")
    top = 0.0
    for name, sec, flops, nbytes in rows:
        if not name.startswith("  "):
            top += sec
        print(f"  {name:<38} {1e3 * sec:8.1f} {100 * sec / step_s:5.1f}% {flops / 1e9:7.2f} "
              f"{nbytes / 1e9:6.2f} {flops / sec / 1e9:8.1f} {100 * flops / sec / 1e9 / peak:5.1f}%")
    print(f"  {'sum of components (indented: parts)':<38} {1e3 * top:8.1f} {100 * top / step_s:5.1f}%   "
          f"(step {1e3 * step_s:.1f} ms; the rest: losses, balancer, metrics, fusion boundaries)")


def _row(r: dict, peak: float) -> str:
    achieved = r["flops_per_step"] / r["step_s"] / 1e9
    return (f"{r['config'] + r.get('variant', ''):<34} batch {r['batch']:<11} compile "
            f"{r['compile_s']:6.1f} s  step {r['step_s']:7.3f} s  {r['audio_s_per_s']:6.2f} audio-s/s  "
            f"{r['flops_per_step'] / 1e9:6.1f} GFLOP {r['bytes_per_step'] / 1e9:5.1f} GB/step  "
            f"{achieved:5.1f} GFLOP/s  MFU {100 * achieved / peak:4.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="speech_cpu_24khz,soundstream_24khz")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after warm-up")
    parser.add_argument("--paper_batch", type=int, default=4)
    parser.add_argument("--paper_crop_frames", type=int, default=75, help="75 frames = 1 s")
    parser.add_argument("--gen_only", action="store_true",
                        help="also time the reconstruction-only (warm-up) step")
    parser.add_argument("--profile", action="store_true", help="per-component profile")
    parser.add_argument("--no_peer", action="store_true", help="skip the PyTorch EnCodec step")
    parser.add_argument("--peer_batch", type=int, default=4)
    parser.add_argument("--peer_threads", type=int, default=2)
    args, config_overrides = parser.parse_known_args()
    bad = [a for a in config_overrides if not a.startswith("--config.")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (config overrides are --config.KEY=VALUE)")
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} x {jax.device_count()}, "
          f"{os.cpu_count()} CPUs", flush=True)
    peak = measure_peak()
    print(f"peak: float32 4096^3 matmul {peak:.1f} GFLOP/s (measured now; the MFU denominator)",
          flush=True)
    paper_rate = None  # audio-s/s of the paper config's GAN step, for the ratio to the peer
    for name in args.configs.split(","):
        overrides = []
        if name.startswith("soundstream"):
            overrides = [f"data.batch_size={args.paper_batch}",
                         f"data.crop_frames={args.paper_crop_frames}"]
        variants = [(" GAN", ["loss.adversarial_start_step=0"])]
        if args.gen_only:
            variants.append((" warm-up", ["loss.adversarial_start_step=1000000000"]))
        for label, extra in variants:
            keep = args.profile and label == " GAN"
            r = measure(name, overrides + extra + config_overrides, args.steps, keep=keep)
            r["variant"] = label
            print(_row(r, peak), flush=True)
            if name.startswith("soundstream") and label == " GAN":
                paper_rate = r["audio_s_per_s"]
            if keep:
                print_profile(profile(r.pop("_context"), args.steps), r["step_s"], peak)
                sys.stdout.flush()
    if args.no_peer:
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import encodec_peer  # noqa: PLC0415
    why = encodec_peer.available()
    if why:
        print(f"PyTorch EnCodec peer skipped: {why}")
        return
    p = encodec_peer.measure(args.peer_batch, 1.0, args.steps, args.peer_threads)
    print(f"{p['config']:<34} batch {p['batch']:<11} torch {p['torch']}, {p['threads']} threads"
          f"        step {p['step_s']:7.3f} s  {p['audio_s_per_s']:6.2f} audio-s/s", flush=True)
    if paper_rate is not None:
        print(f"paper config GAN step / PyTorch EnCodec GAN step, same batch: "
              f"{paper_rate / p['audio_s_per_s']:.2f}x the audio-seconds per second")


if __name__ == "__main__":
    main()
