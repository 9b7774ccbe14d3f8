"""sscodec's native inference kernels (native/conv1d.cc, native/tiles.h): built on first use, called through
XLA's FFI, and traced in place of XLA's ops by one-frame streaming steps that ask for them
(`Codec.stream_encoder(kernels="native" | "native-bf16")`, through nn.conv.conv_implementation).

Why: a one-frame call of a large model is a stack of ~60 convs with one to a few hundred output
steps. XLA:CPU reads the weights of the few-step ones at 20-28 GB/s (a third of one sequential
read), keeps float32 weights that do not fit the L3, and runs three or four small ops around
each conv (activation, stream context, residual add) at a few microseconds each. Here:

- `conv1d`: a causal conv with its input activation (ELU), stream context and residual add in one
  call, tiled so that even a one-step conv keeps enough FMA chains and weight streams in flight;
  float32 or bfloat16 weights (half the bytes; activations and sums stay float32);
- `residual_unit`: a SEANet residual unit (two convs, two ELUs, the add) in one call;
- `residual_quantize`: every RVQ stage's search in one call, in float32 (it picks codes).

The paper config's one-frame calls went from 2.49 to 1.00 ms (p50, bfloat16 weights; 24% -> 53%
of this core's float32 peak), README "Live calls". The price: sums run in another order than
XLA's, so codes are not bit-for-bit those of `Codec.encode` (a near tie can flip), and bfloat16
weights change the model slightly (experiments/benchmarks/native_quality.py measures it). Needs
x86-64 with AVX-512 and a C++ compiler (g++ or $CXX); the library is cached beside the compile
caches (platforms.cache_dir()/sscodec-native).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from sscodec.platforms import cache_dir

SOURCE = os.path.join(os.path.dirname(__file__), "native", "conv1d.cc")
TARGET = "sscodec_conv1d"
RVQ_TARGET = "sscodec_rvq_encode"
UNIT_TARGET = "sscodec_residual_unit"
BLOCK = 32  # output channels per weight block (two AVX-512 float32 vectors)
WEIGHT_DTYPES = ("float32", "bfloat16")
ACTIVATIONS = {None: 0, "elu": 1}  # the input activations the kernel fuses


class NativeKernelError(RuntimeError):
    """The native kernel cannot run on this machine (says why)."""


def unavailable_reason() -> str | None:
    """Why the kernel cannot be built or run here, or None when it can."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return f"needs Linux on x86-64 (this is {platform.system()} {platform.machine()})"
    flags = next((line for line in _cpuinfo() if line.startswith("flags")), "")
    if " avx512f" not in flags:
        return "needs a CPU with AVX-512 (no avx512f in /proc/cpuinfo)"
    if not shutil.which(_compiler()):
        return f"needs a C++ compiler ({_compiler()!r} not found; set $CXX)"
    return None


@functools.cache
def _cpuinfo() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read().splitlines()
    except OSError:
        return []


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
    source = b""
    for name in sorted(os.listdir(os.path.dirname(SOURCE))):  # conv1d.cc and what it includes
        with open(os.path.join(os.path.dirname(SOURCE), name), "rb") as f:
            source += name.encode() + f.read()
    cpu = next((line for line in _cpuinfo() if line.startswith("model name")), "").encode()
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
    jax.ffi.register_ffi_target(RVQ_TARGET, jax.ffi.pycapsule(library.SscodecRvqEncode),
                                platform="cpu")
    jax.ffi.register_ffi_target(UNIT_TARGET, jax.ffi.pycapsule(library.SscodecResidualUnit),
                                platform="cpu")


def pack_kernel(kernel: jax.Array, dtype: str = "float32") -> jax.Array:
    """[K, Cin, Cout] -> the kernel's layout [ceil(Cout / 32), K, Cin, 32] in `dtype`, zero-padded
    output channels; in bfloat16 word l of a row holds channels l and 16 + l (see conv1d.cc)."""
    k, cin, cout = kernel.shape
    kernel = jnp.pad(kernel, ((0, 0), (0, 0), (0, -cout % BLOCK)))
    blocks = kernel.shape[-1] // BLOCK
    packed = kernel.reshape(k, cin, blocks, BLOCK).transpose(2, 0, 1, 3)
    if _check_dtype(dtype) == "bfloat16":
        packed = packed.astype(jnp.bfloat16).reshape(blocks, k, cin, 2, BLOCK // 2)
        packed = packed.swapaxes(-1, -2).reshape(blocks, k, cin, BLOCK)
    return packed


def _check_dtype(dtype: str) -> str:
    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"native conv weights must be one of {WEIGHT_DTYPES}, not {dtype!r}")
    return dtype


def _pack_conv(kernel: jax.Array, bias: jax.Array, dtype: str) -> tuple[jax.Array, jax.Array]:
    """(packed kernel, float32 bias zero-padded to the packed output channels)."""
    packed = pack_kernel(kernel.astype(jnp.float32), dtype)
    return packed, jnp.pad(bias.astype(jnp.float32), (0, packed.shape[0] * BLOCK - bias.shape[0]))


def conv1d(x: jax.Array, kernel: jax.Array, bias: jax.Array, stride: int = 1, dilation: int = 1,
           weights_dtype: str = "float32", *, context: jax.Array | None = None,
           activation: str | None = None, residual: jax.Array | None = None, skip: int = 0):
    """A VALID 1-D conv run by the native kernel (load() first): x [B, T, Cin] float32, kernel
    [K, Cin, Cout], bias [Cout] -> y [B, T', Cout] over in = [context | activation(x)][skip:],
    plus `residual` [B, T', Cout] if given. With a context [B, P, Cin] returns (y, the last P
    rows of [context | activation(x)]). `activation`: None or "elu"."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"native conv activation must be one of {tuple(ACTIVATIONS)}, "
                         f"not {activation!r}")
    batch, length, cin = x.shape
    k, _, cout = kernel.shape
    ctx = jnp.zeros((batch, 0, cin), jnp.float32) if context is None else context
    steps = ctx.shape[1] + length - skip
    t_out = (steps - (k - 1) * dilation - 1) // stride + 1
    if t_out < 1:
        raise ValueError(f"a conv of kernel {k}, dilation {dilation} needs more than {steps} steps")
    packed, bias = _pack_conv(kernel, bias, weights_dtype)
    res = jnp.zeros((0,), jnp.float32) if residual is None else residual.astype(jnp.float32)
    y, new_context = jax.ffi.ffi_call(TARGET, (
        jax.ShapeDtypeStruct((batch, t_out, cout), jnp.float32),
        jax.ShapeDtypeStruct(ctx.shape, jnp.float32)))(
        x.astype(jnp.float32), ctx.astype(jnp.float32), packed, bias, res,
        stride=np.int64(stride), dilation=np.int64(dilation), skip=np.int64(skip),
        activation=np.int64(ACTIVATIONS[activation]), has_residual=np.int64(residual is not None))
    return y if context is None else (y, new_context)


def residual_quantize(x: jax.Array, codebooks: jax.Array, sqnorms: jax.Array) -> jax.Array:
    """The RVQ's search in one native call (load() first): x [F, D], codebooks [S, N, D], their
    squared norms [S, N] -> codes [F, S], each stage the nearest entry to what the stages
    before it left (float32 throughout)."""
    stages, size, dim = codebooks.shape
    kernels = jnp.stack([pack_kernel(-2.0 * cb.T[None].astype(jnp.float32)) for cb in codebooks])
    width = kernels.shape[1] * BLOCK
    sqnorms = jnp.pad(sqnorms.astype(jnp.float32), ((0, 0), (0, width - size)),
                      constant_values=np.finfo(np.float32).max)  # padding is never nearest
    return jax.ffi.ffi_call(RVQ_TARGET, jax.ShapeDtypeStruct((x.shape[0], stages), jnp.int32))(
        x.astype(jnp.float32), kernels, sqnorms, codebooks.astype(jnp.float32))


def residual_unit(x: jax.Array, context: jax.Array, dilated: tuple, pointwise: tuple,
                  dilation: int, skip: int, weights_dtype: str = "float32"):
    """A SEANet residual unit in one native call (load() first): x [B, T, C] ->
    (x + pointwise(ELU(dilated([context | ELU(x)][skip:]))), the next context), the convs given
    as (kernel [K, C, H], bias [H]) and (kernel [1, H, C], bias [C])."""
    hidden = dilated[0].shape[-1]
    w1, b1 = _pack_conv(*dilated, weights_dtype)
    w2, b2 = _pack_conv(*pointwise, weights_dtype)
    return jax.ffi.ffi_call(UNIT_TARGET, (jax.ShapeDtypeStruct(x.shape, jnp.float32),
                                          jax.ShapeDtypeStruct(context.shape, jnp.float32)))(
        x.astype(jnp.float32), context.astype(jnp.float32), w1, b1, w2, b2,
        dilation=np.int64(dilation), skip=np.int64(skip), hidden=np.int64(hidden))


class NativeKernels:
    """What nn.conv.conv_implementation takes: calls run the native conv with `weights_dtype`
    weights, `residual_unit` a SEANet residual unit, and `residual_quantize` the RVQ's search
    (float32: it picks codes)."""

    def __init__(self, weights_dtype: str = "float32"):
        self.weights_dtype = _check_dtype(weights_dtype)
        load()

    def __call__(self, x, kernel, bias, stride, dilation, **fused):
        return conv1d(x, kernel, bias, stride, dilation, self.weights_dtype, **fused)

    def residual_unit(self, x, context, dilated, pointwise, dilation, skip):
        return residual_unit(x, context, dilated, pointwise, dilation, skip, self.weights_dtype)

    residual_quantize = staticmethod(residual_quantize)


def conv_implementation(weights_dtype: str = "float32") -> NativeKernels:
    """The native kernels for nn.conv.conv_implementation, loaded (built on first use)."""
    return NativeKernels(weights_dtype)


def stream_step(config: dict, kind: str, weights_dtype: str, num_quantizers: int):
    """(function, kernels) for a FrameStep (sscodec.codec.streaming): a bundle's stream step of
    `kind` ("encode" / "decode") rebuilt from its config (a dict, as config.json holds it), to be
    traced inside nn.conv.conv_implementation(kernels). Its signature is the exported step's,
    function(weights, state, x, n_q, denoise), with n_q a constant."""
    from sscodec.codec.export import inference_config, stream_functions
    from sscodec.config import config_from_dict
    from sscodec.nn.soundstream import build_generator
    kernels = conv_implementation(weights_dtype)
    generator = build_generator(inference_config(config_from_dict(config)), streaming=True)
    encode_step, decode_step = stream_functions(generator)
    step = encode_step if kind == "encode" else decode_step

    def function(weights, state, x, n_q, denoise):
        # numpy weights as jax constants (packed once at compile time), and n_q static, so that
        # the RVQ's depth is known and its codebooks are constants too
        y, state = step(jax.tree.map(jnp.asarray, weights), state, x, int(n_q), denoise)
        if kind == "encode":  # all N_q columns, zeros past n_q, as the exported step gives
            y = jnp.pad(y, ((0, 0), (0, 0), (0, num_quantizers - y.shape[-1])))
        return y, state
    return function, kernels
