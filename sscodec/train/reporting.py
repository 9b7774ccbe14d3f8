"""What a run writes beside its checkpoints: metrics.jsonl, TensorBoard events (scalars and
audio), audio samples."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import soundfile as sf

from data_pipelines.audio_io import AudioReadError
from data_pipelines.sources import Source
from sscodec.train.state import eval_params_key


def tensorboard_tag(name: str) -> str:
    """A metric name as a legal TensorBoard tag: eval/pesq@1.5kbps -> eval/pesq_1.5kbps."""
    return re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)


class MetricWriter:
    """Appends one JSON line per logged step to workdir/metrics.jsonl and mirrors to TensorBoard
    (tags as `tensorboard_tag` makes them)."""

    def __init__(self, workdir: str, enabled: bool = True):
        self.enabled = enabled
        self.path = os.path.join(workdir, "metrics.jsonl")
        self._tb = None
        if enabled:
            from tensorboardX import SummaryWriter  # writes event files without TensorFlow
            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in metrics.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **clean}) + "\n")
        for k, v in clean.items():
            if math.isfinite(v):
                self._tb.add_scalar(tensorboard_tag(k), v, step)
        self._tb.flush()

    def audio(self, tag: str, samples: np.ndarray, step: int, sample_rate: int) -> None:
        """Adds audio ([T] floats, clipped to [-1, 1]) to TensorBoard; flushed by `write`.
        TensorBoard plays mono, so [T, C] is mixed down (samples/ keeps the channels)."""
        if not self.enabled:
            return
        samples = np.asarray(samples, np.float32)
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        samples = np.clip(samples.reshape(-1), -1.0, 1.0)
        self._tb.add_audio(tensorboard_tag(tag), samples, step, sample_rate=sample_rate)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_metrics(workdir: str) -> list[dict]:
    path = os.path.join(workdir, "metrics.jsonl")
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def load_sample_clips(sources: Sequence[Source], seconds: float, sample_rate: int,
                      frame_size: int, channels: int = 1) -> dict[str, np.ndarray]:
    """The start of the first item of each kind in each source, trimmed to whole frames
    ([T], or [T, channels] when channels > 1)."""
    clips = {}
    for source in sources:
        seen = set()
        for i in range(len(source)):
            kind = source.kind(i) or "clip"
            if kind in seen:
                continue
            try:
                x = source.clip(i, seconds, sample_rate, channels)
            except AudioReadError:
                continue
            seen.add(kind)
            x = x[: len(x) // frame_size * frame_size]
            if len(x):
                clips[f"{kind}_{source.item_name(i)}"] = x
            if len(seen) == 3 or i > 1000:
                break
    return clips


def reconstruct_fn(generator):
    """jit(gen_params, quantizer, audio [B, T] (or [B, T, C]), n_q) -> the codec's output of the
    same shape at depth n_q
    (static: one compile per depth and input shape)."""

    def reconstruct(gen_params, quantizer, audio, n_q):
        out, _ = generator.apply({"params": gen_params, "quantizer": quantizer}, audio,
                                 train=False, n_q=n_q)
        return out

    return jax.jit(reconstruct, static_argnums=3)


class SampleWriter:
    """Writes input and reconstructions (full depth and lowest bitrate) as WAV under workdir/samples."""

    def __init__(self, workdir: str, generator, clips: dict[str, np.ndarray], sample_rate: int,
                 depths: Sequence[int]):
        self.root = os.path.join(workdir, "samples")
        self.clips, self.sample_rate, self.depths = clips, sample_rate, tuple(depths)
        self._fn = reconstruct_fn(generator)

    def write(self, step: int, state) -> list[str]:
        folder = os.path.join(self.root, f"step_{step:08d}")
        os.makedirs(folder, exist_ok=True)
        written = []
        for name, audio in self.clips.items():
            path = os.path.join(folder, f"{name}_input.wav")
            sf.write(path, audio, self.sample_rate, subtype="PCM_16")
            written.append(path)
            for n_q in self.depths:
                out = np.asarray(self._fn(state[eval_params_key(state)], state["quantizer"],
                                          jnp.asarray(audio)[None], n_q))[0]
                path = os.path.join(folder, f"{name}_recon_nq{n_q}.wav")
                sf.write(path, np.clip(out, -1.0, 1.0), self.sample_rate, subtype="PCM_16")
                written.append(path)
        return written
