"""How often each RVQ code occurs on training data: the counts behind a bundle's entropy tables.

`sscodec export` runs the trained encoder over a few minutes of the run's training data (or any
data spec) and stores the per-quantizer counts; `sscodec.codec.entropy` turns them into static rANS
tables. The paper estimates that such tables save 7-20% of the bitrate.
"""

from __future__ import annotations

import logging

import jax
import numpy as np
from ml_collections import ConfigDict
from tqdm import tqdm

from data_pipelines.audio_io import AudioReadError
from data_pipelines.sources import open_source
from sscodec.config import mixture, samples_per_frame
from sscodec.codec.entropy import count_codes
from sscodec.nn.soundstream import SoundStream

log = logging.getLogger(__name__)

CLIP_SECONDS = 10.0  # one compiled shape; long files contribute their first 10 s
MIN_CLIP_SECONDS = 0.1  # a shorter remainder is not worth a read


def _clips(config: ConfigDict, spec: str | None, seconds: float, seed: int = 0):
    """Yields float32 clips at the model rate ([T], or [T, C] for a C-channel model),
    alternating over the sources, until `seconds`."""
    data = config.data
    entries = mixture(spec if spec else data.train, tuple(data.kinds))
    sources = [open_source(e["spec"], kinds=e["kinds"], kind=e["kind"], data_dir=data.data_dir)
               for e in entries]
    rng = np.random.default_rng(seed)
    orders = [iter(rng.permutation(len(s))) for s in sources]
    total = 0.0
    while total < seconds and orders:
        for source, order in list(zip(sources, orders)):
            if seconds - total < MIN_CLIP_SECONDS:
                return
            index = next(order, None)
            if index is None:
                sources.remove(source)
                orders.remove(order)
                continue
            try:
                clip = source.clip(int(index), min(CLIP_SECONDS, seconds - total),
                                   config.sample_rate, config.model.channels)
            except AudioReadError as e:
                log.warning("entropy tables: skipping an unreadable item: %s", e)
                continue
            if len(clip):
                total += len(clip) / config.sample_rate
                yield clip
            if total >= seconds:
                return


def count_training_codes(config: ConfigDict, generator: SoundStream, weights: dict,
                         spec: str | None = None, seconds: float = 120.0) -> np.ndarray:
    """Code counts [N_q, N] of the full-depth encoder over `seconds` of `spec` (default: the
    config's training data)."""
    frame = samples_per_frame(config)
    length = int(np.ceil(min(CLIP_SECONDS, seconds) * config.sample_rate / frame)) * frame
    variables = {"params": weights["params"], "quantizer": weights["quantizer"]}
    encode = jax.jit(lambda v, x: generator.apply(v, x, method=SoundStream.encode))
    counts = np.zeros((config.quantizer.num_quantizers, config.quantizer.codebook_size), np.int64)
    done = 0.0
    with tqdm(total=round(seconds), unit="s", desc="entropy tables", leave=False) as bar:
        for clip in _clips(config, spec, seconds):
            clip = clip[:length]
            frames = -(-len(clip) // frame)
            padding = [(0, length - len(clip))] + [(0, 0)] * (clip.ndim - 1)
            codes = np.asarray(encode(variables, np.pad(clip, padding)[None]))
            counts = count_codes(codes[0, :frames], *counts.shape, counts=counts)
            done += len(clip) / config.sample_rate
            bar.update(min(round(done), bar.total) - bar.n)  # whole seconds on the bar
    if not counts.any():
        raise ValueError(f"no audio to estimate entropy tables from ({spec or 'training data'})")
    return counts
