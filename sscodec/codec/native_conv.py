"""sscodec's native inference conv (native/conv1d.cc): built on first use, called through XLA's
FFI, and traced in place of XLA's convs by one-frame streaming steps that ask for it.

Why: a one-frame call of a large model is a stack of convs with one to a few output steps, and
XLA:CPU runs those at 20-28 GB/s of weights (a third of one sequential read) with float32
weights that do not fit the L3 (README, "Live calls"). This kernel keeps enough FMA chains and
weight streams in flight to read weights at the memory's speed, and takes bfloat16 weights
(half the bytes; activations and accumulation stay float32).

The price: its sums run in another order than XLA's convs, so codes are not bit-for-bit those of
`Codec.encode` (a near tie can flip), and bfloat16 weights change the model slightly; measure
with experiments/benchmarks/inference.py --kernels. Needs x86-64 with AVX-512 and a C++
compiler (g++ or $CXX); the library is cached beside the compile caches (platforms.cache_dir()/sscodec-native).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from sscodec.platforms import cache_dir

SOURCE = os.path.join(os.path.dirname(__file__), "native", "conv1d.cc")
TARGET = "sscodec_conv1d"
BLOCK = 32  # output channels per weight block (two AVX-512 float32 vectors)
WEIGHT_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class NativeKernelError(RuntimeError):
    """The native kernel cannot run on this machine (says why)."""


def unavailable_reason() -> str | None:
    """Why the kernel cannot be built or run here, or None when it can."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return f"needs Linux on x86-64 (this is {platform.system()} {platform.machine()})"
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        flags = ""
    if " avx512f" not in flags:
        return "needs a CPU with AVX-512 (no avx512f in /proc/cpuinfo)"
    if not shutil.which(_compiler()):
        return f"needs a C++ compiler ({_compiler()!r} not found; set $CXX)"
    return None


def _compiler() -> str:
    return os.environ.get("CXX", "g++")


def _build(out: str) -> None:
    command = [_compiler(), "-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-w",
               "-I", jax.ffi.include_dir(), SOURCE, "-o", out]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise NativeKernelError(f"building {SOURCE} failed ({' '.join(command)}):\n"
                                f"{result.stderr[-2000:]}")


@functools.cache
def load() -> None:
    """Builds the kernel (once per source, compiler, jaxlib and CPU; cached) and registers it with
    XLA for this process. Raises NativeKernelError where it cannot run."""
    import ctypes
    reason = unavailable_reason()
    if reason:
        raise NativeKernelError(f"the native conv kernel {reason}; use kernels='xla'")
    with open(SOURCE, "rb") as f:
        source = f.read()
    with open("/proc/cpuinfo", "rb") as f:
        cpu = next((line for line in f if line.startswith(b"model name")), b"")
    version = subprocess.run([_compiler(), "--version"], capture_output=True).stdout
    key = hashlib.sha256(source + cpu + version + jax.__version__.encode()).hexdigest()[:16]
    base = cache_dir()
    folder = (os.path.join(base, "sscodec-native") if base
              else tempfile.mkdtemp(prefix="sscodec-native-"))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"conv1d-{key}.so")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        _build(tmp)
        os.replace(tmp, path)  # atomic: a concurrent process sees a whole library or none
    library = ctypes.cdll.LoadLibrary(path)
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(library.SscodecConv1d), platform="cpu")


def pack_kernel(kernel: jax.Array, dtype: str = "float32") -> jax.Array:
    """[K, Cin, Cout] -> the kernel's layout [ceil(Cout / 32), K, Cin, 32] in `dtype`, zero-padded
    output channels; in bfloat16 word l of a row holds channels l and 16 + l (see conv1d.cc)."""
    k, cin, cout = kernel.shape
    kernel = jnp.pad(kernel, ((0, 0), (0, 0), (0, -cout % BLOCK)))
    blocks = kernel.shape[-1] // BLOCK
    packed = kernel.reshape(k, cin, blocks, BLOCK).transpose(2, 0, 1, 3)
    if dtype == "bfloat16":
        packed = packed.astype(jnp.bfloat16).reshape(blocks, k, cin, 2, BLOCK // 2)
        packed = packed.swapaxes(-1, -2).reshape(blocks, k, cin, BLOCK)
    elif dtype != "float32":
        raise ValueError(f"native conv weights must be one of {tuple(WEIGHT_DTYPES)}, not {dtype!r}")
    return packed


def conv1d(x: jax.Array, kernel: jax.Array, bias: jax.Array, stride: int = 1, dilation: int = 1,
           weights_dtype: str = "float32") -> jax.Array:
    """A VALID 1-D conv, x [B, T, Cin] float32, kernel [K, Cin, Cout], bias [Cout] -> [B, T', Cout],
    run by the native kernel (load() first)."""
    batch, length, _ = x.shape
    k, _, cout = kernel.shape
    t_out = (length - (k - 1) * dilation - 1) // stride + 1
    if t_out < 1:
        raise ValueError(f"a conv of kernel {k}, dilation {dilation} needs more than {length} steps")
    packed = pack_kernel(kernel.astype(jnp.float32), weights_dtype)
    width = packed.shape[0] * BLOCK
    bias = jnp.pad(bias.astype(jnp.float32), (0, width - cout))
    y = jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct((batch, t_out, width), jnp.float32))(
        x.astype(jnp.float32), packed, bias, stride=np.int64(stride), dilation=np.int64(dilation),
        cout=np.int64(cout))
    return y[..., :cout]


def conv_implementation(weights_dtype: str = "float32") -> Callable:
    """The function nn.conv.conv_implementation takes: the native conv with `weights_dtype`
    (float32 where the caller asks for a precise product: the RVQ's distances, which pick
    codes)."""
    load()

    def implementation(x, kernel, bias, stride, dilation, precise=False):
        return conv1d(x, kernel, bias, stride, dilation, "float32" if precise else weights_dtype)
    return implementation
