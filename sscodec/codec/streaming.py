"""Streaming encode and decode of a `Codec`: push chunks of any size, get what they complete.

Two paths run the bundle's exported stream steps (`encode_stream`, `decode_stream`):

- Chunks of `REALTIME_FRAMES` frames or more run through the general steps (weights, state and
  chunk as arguments), in power-of-two pieces up to BLOCK_FRAMES.
- Fewer frames, the live-call case of one frame per call, run frame by frame through a
  `FrameStep`: the same exported step compiled with the weights, n_q and the denoise switch as
  constants, and the stream state packed into one donated buffer.

Why the second path: a call of an XLA executable costs ~0.2-0.3 us per argument and result leaf,
and the general step has ~200 weight leaves and ~20 state leaves in and out, ~100 us a call,
as long as a small model's whole frame. Compiled in as constants, the weights also cost no
copies and their weight norm is folded once at compile time. Measured with
experiments/benchmarks/inference.py (one core, one frame per call): the paper's C=32 model
8.3 -> 2.7 ms per 13.3 ms frame (encode plus decode, p50). The results equal the general path's
(tests/test_streaming.py). The price: each (kind, n_q, denoise) compiles once per process
(~1 s for a small model, ~2 s for the paper's), with its own copy of the weights.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

if TYPE_CHECKING:
    from sscodec.codec import Codec

BLOCK_FRAMES = 64  # the largest chunk one general streaming call takes
REALTIME_FRAMES = 4  # pushes of fewer frames run frame by frame through a FrameStep


def zero_state(exported) -> dict:
    """The zero stream state of an exported step function (its second argument)."""
    tree, avals = _state_signature(exported)
    return jax.tree.unflatten(tree, [np.zeros(a.shape, a.dtype) for a in avals])


def _state_signature(exported):
    args = exported.in_tree.children()[0].children()
    start = args[0].num_leaves
    return args[1], exported.in_avals[start: start + args[1].num_leaves]


def _pieces(frames: int) -> list[int]:
    """Splits a run of frames into calls of power-of-two sizes up to BLOCK_FRAMES, so a stream
    of any chunking compiles at most log2(BLOCK_FRAMES) + 1 shapes."""
    out = []
    while frames:
        out.append(min(BLOCK_FRAMES, 1 << (frames.bit_length() - 1)))
        frames -= out[-1]
    return out


class FrameStep:
    """One exported stream step specialized for one frame per call: `step(packed_state, x) ->
    (y, packed_state)` with the weights, n_q and denoise compiled in and the state one float32
    vector (donated, so it is updated in place). `pack` / `unpack` convert to and from the
    general steps' state pytree."""

    def __init__(self, exported, weights: dict, n_q: int, denoise: int, function=None,
                 conv=None):
        """`function(weights, state, x, n_q, denoise)`: the step to compile, by default the
        exported one; `conv`: an nn.conv.conv_implementation to trace it with (native kernels).
        With `conv` the state stays a pytree of leaves (donated): the kernels read and write
        each conv's context in place, where slicing one packed vector would copy every leaf."""
        self._tree, avals = _state_signature(exported)
        self._packed = conv is None
        function = function or exported.call
        if any(a.dtype != np.float32 for a in avals):
            raise TypeError("FrameStep packs float32 stream states only")
        self._shapes = [a.shape for a in avals]
        self._sizes = [int(np.prod(s)) for s in self._shapes]
        constants = jax.tree.map(np.asarray, weights)  # numpy: embedded in the executable

        if conv is not None:  # native kernels rebuild the model: flax only then
            from sscodec.nn.conv import conv_implementation
            tracing = lambda: conv_implementation(conv)
        else:
            tracing = contextlib.nullcontext

        def step(packed, x):
            with tracing():
                y, new = function(constants, self._unpack(packed), x, np.int32(n_q),
                                  np.int32(denoise))
            return y, self._pack(new)

        self.step = jax.jit(step, donate_argnums=0)
        self.pack = jax.jit(self._pack)
        self.unpack = jax.jit(self._unpack)
        self.zero = lambda: jax.device_put(self._pack(jax.tree.unflatten(
            self._tree, [np.zeros(shape, np.float32) for shape in self._shapes])),
            jax.devices()[0])

    def _pack(self, state):
        if not self._packed:
            return jax.tree.map(jnp.asarray, state)
        return jnp.concatenate([jnp.reshape(leaf, -1) for leaf in jax.tree.leaves(state)])

    def _unpack(self, packed):
        if not self._packed:
            return packed
        parts, offset = [], 0
        for shape, size in zip(self._shapes, self._sizes):
            parts.append(packed[offset: offset + size].reshape(shape))
            offset += size
        return jax.tree.unflatten(self._tree, parts)


class _Stream:
    """The state of one stream, held in whichever form its last call used."""

    kind: str

    def __init__(self, codec: "Codec", num_quantizers: int, denoise: bool, kernels: str = "xla"):
        self.codec, self.num_quantizers, self.kernels = codec, num_quantizers, kernels
        self._denoise = codec._denoise(denoise)
        self._state = codec._initial_states[self.kind]  # general form
        self._packed = None  # FrameStep form, when the last call was one
        self._frame_step: FrameStep | None = None

    def _general_state(self):
        if self._packed is not None:
            self._state, self._packed = self._frame_step.unpack(self._packed), None
        return self._state

    def _step_one(self, x: np.ndarray) -> np.ndarray:
        if self._frame_step is None:
            self._frame_step = self.codec._frame_step(self.kind, self.num_quantizers,
                                                      int(self._denoise), self.kernels)
        if self._packed is None:
            self._packed, self._state = self._frame_step.pack(self._state), None
        y, self._packed = self._frame_step.step(self._packed, x)
        return np.asarray(y)[0]

    def _step_general(self, x: np.ndarray) -> np.ndarray:
        function = self.codec._encode_step if self.kind == "encode" else self.codec._decode_step
        y, self._state = function(self.codec._weights, self._general_state(), x,
                                  np.int32(self.num_quantizers), self._denoise)
        return np.asarray(y)[0]


class StreamEncoder(_Stream):
    """Audio chunks at the model rate -> codes of the frames they complete."""

    kind = "encode"

    def __init__(self, codec: "Codec", num_quantizers: int, denoise: bool = False,
                 kernels: str = "xla"):
        super().__init__(codec, num_quantizers, denoise, kernels)
        self._pending = np.zeros((0,) if codec.channels == 1 else (0, codec.channels), np.float32)

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Float audio at codec.sample_rate -> int32 codes [k, n_q] (k may be 0): mono [T] for a
        mono model; [T, C] (or mono [T], duplicated) for a C-channel one."""
        audio = np.asarray(audio, np.float32)
        if self.codec.channels == 1 and audio.ndim != 1:
            raise ValueError(f"stream chunks are mono [T], got shape {audio.shape}")
        audio = self.codec._channels(audio)
        self._pending = np.concatenate([self._pending, audio])
        m, frames = self.codec.frame_size, len(self._pending) // self.codec.frame_size
        realtime = frames < REALTIME_FRAMES
        step = self._step_one if realtime else self._step_general
        out, start = [], 0
        for k in [1] * frames if realtime else _pieces(frames):
            codes = step(self._pending[None, start: start + k * m])
            out.append(codes[:, : self.num_quantizers])
            start += k * m
        self._pending = self._pending[start:]
        if not out:
            return np.zeros((0, self.num_quantizers), np.int32)
        return np.concatenate(out).astype(np.int32)

    def flush(self) -> np.ndarray:
        """Pads the last partial frame with zeros (as offline encoding does) and codes it."""
        if not len(self._pending):
            return np.zeros((0, self.num_quantizers), np.int32)
        return self.push(np.zeros((self.codec.frame_size - len(self._pending),)
                                  + self._pending.shape[1:], np.float32))


class StreamDecoder(_Stream):
    """Codes -> audio, frame_size samples per frame, as soon as the frame arrives."""

    kind = "decode"

    def __init__(self, codec: "Codec", denoise: bool = False, kernels: str = "xla"):
        super().__init__(codec, codec.num_quantizers, denoise, kernels)  # n_q: the codes' columns

    def push(self, codes: np.ndarray) -> np.ndarray:
        """int codes [k, n_q] -> float32 audio [k * frame_size] (or [k * frame_size, C])."""
        codes = np.asarray(codes)
        if codes.ndim == 2 and len(codes) == 0:
            channels = self.codec.channels
            return np.zeros((0,) if channels == 1 else (0, channels), np.float32)
        codes = self.codec._check_codes(codes)
        if codes.shape[1] != self.num_quantizers:  # a new depth: a FrameStep for it
            self._general_state()
            self.num_quantizers, self._frame_step = codes.shape[1], None
        full = self.codec._all_columns(codes)
        realtime = len(codes) < REALTIME_FRAMES
        step = self._step_one if realtime else self._step_general
        out, start = [], 0
        for k in [1] * len(codes) if realtime else _pieces(len(codes)):
            out.append(step(full[:, start: start + k]))
            start += k
        return np.concatenate(out).astype(np.float32, copy=False)
