"""Forward, input-gradient and kernel-gradient time of the STFT discriminator's convs on XLA:CPU.

The paper step's time goes mostly to these 2-D convs' backward passes (README, "Tests and
benchmarks"). This prints, per conv shape, the forward and the two gradients (each timed with its
forward) of `sscodec.nn.conv.conv_nd` (what the model runs on CPU), of plain
`lax.conv_general_dilated` with JAX's own transposes, and of a space-to-depth (polyphase) form of
the strided conv (a stride-1 conv on phase-split input: no lhs-dilated conv in its backward).

Run (compare rows within one run; set XLA_FLAGS to try XLA's switches):
  python experiments/benchmarks/conv_backward.py
  XLA_FLAGS=--xla_cpu_experimental_onednn_custom_call=true python experiments/benchmarks/conv_backward.py
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sscodec.platforms import choose_platforms  # noqa: E402

choose_platforms()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from sscodec.nn.conv import conv_nd  # noqa: E402

# (input [B, T, F, C], kernel [kt, kf, C, O], strides, padding): the STFT discriminator's strided
# convs at C = 32, 4 x 1 s of audio (window 1024, hop 256), and one 3 x 8 conv of the same size.
SHAPES = [((4, 94, 513, 32), (3, 4, 32, 64), (1, 2), ((1, 1), (1, 1))),
          ((4, 94, 257, 64), (4, 4, 64, 128), (2, 2), ((1, 1), (1, 1))),
          ((4, 94, 513, 32), (3, 8, 32, 32), (1, 2), ((1, 1), (3, 4)))]


def polyphase_conv(x: jax.Array, kernel: jax.Array, strides, padding) -> jax.Array:
    """The strided conv as a stride-1 conv of space-to-depth input and kernel (each window a
    multiple of its stride): the same outputs, no lhs dilation in the input gradient."""
    nd = len(strides)
    window = kernel.shape[:nd]
    x = jnp.pad(x, [(0, 0)] + [tuple(p) for p in padding] + [(0, 0)])
    outs = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], window, strides)]
    need = [(o - 1 + k // s) * s for o, k, s in zip(outs, window, strides)]
    x = x[(slice(None),) + tuple(slice(0, n) for n in need)]
    split = [x.shape[0]] + [d for n, s in zip(need, strides) for d in (n // s, s)] + [x.shape[-1]]
    perm = [0] + [1 + 2 * i for i in range(nd)] + [2 + 2 * i for i in range(nd)] + [1 + 2 * nd]
    x = x.reshape(split).transpose(perm).reshape(
        [x.shape[0]] + [n // s for n, s in zip(need, strides)] + [math.prod(strides) * x.shape[-1]])
    ksplit = [d for k, s in zip(window, strides) for d in (k // s, s)] + list(kernel.shape[nd:])
    kperm = [2 * i for i in range(nd)] + [2 * i + 1 for i in range(nd)] + [2 * nd, 2 * nd + 1]
    kernel = kernel.reshape(ksplit).transpose(kperm).reshape(
        [k // s for k, s in zip(window, strides)] + [math.prod(strides) * kernel.shape[-2],
                                                     kernel.shape[-1]])
    return conv_nd(x, kernel, (1,) * nd, ((0, 0),) * nd, (1,) * nd)


def _ms(fn, args, runs: int) -> float:
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(runs):
        jax.block_until_ready(fn(*args))
    return (time.perf_counter() - start) / runs * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}  ({jax.devices()[0].platform})")
    print(f"{'input -> kernel, stride':44s} {'form':10s} {'fwd ms':>8s} {'+dx ms':>8s} {'+dw ms':>8s}")
    for shape, kshape, strides, padding in SHAPES:
        x = jax.random.normal(jax.random.key(0), shape)
        kernel = jax.random.normal(jax.random.key(1), kshape) * 0.05
        forms = {
            "conv_nd": lambda x, k: conv_nd(x, k, strides, padding, (1, 1)),
            "lax": lambda x, k: jax.lax.conv_general_dilated(
                x, k, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC")),
            "polyphase": lambda x, k: polyphase_conv(x, k, strides, padding),
        }
        reference = forms["lax"](x, kernel)
        for name, form in forms.items():
            out = form(x, kernel)
            assert out.shape == reference.shape, (name, out.shape, reference.shape)
            loss = lambda x, k, form=form: jnp.sum(form(x, k) ** 2)
            times = [_ms(jax.jit(f), (x, kernel), args.runs) for f in
                     (form, jax.grad(loss, argnums=0), jax.grad(loss, argnums=1))]
            label = f"{shape} -> {kshape[-1]}, k{kshape[:2]} s{strides}"
            print(f"{label:44s} {name:10s} " + " ".join(f"{t:8.1f}" for t in times), flush=True)


if __name__ == "__main__":
    main()
