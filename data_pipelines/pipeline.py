"""The Grain training pipeline of one process: sources -> mixture -> examples -> this host's batches.

Global order first, then the host's share: the mixture of sources is a fixed, seeded sequence of
examples (each source shuffled afresh every epoch, the sources interleaved by weight) and example g
of that sequence is made with randomness seeded by g alone. Process p of P then takes examples
p, p + P, p + 2P, ... (Grain `ShardOptions`) and batches them by `global_batch / P`. So the hosts'
batches are disjoint and together form exactly the global batch, whatever P is, and the batch for
step s is `dataset[s]`: the run is deterministic given the seed and resumes exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from typing import Any, Sequence

import grain
import numpy as np

from data_pipelines.sources import Source, open_source
from sscodec.config import mixture
from data_pipelines.transforms import ExampleMaker

log = logging.getLogger(__name__)

@dataclasses.dataclass
class TrainingData:
    """This process's batches (`dataset[s]` is the batch of step s) and what they came from."""

    dataset: grain.MapDataset
    sources: list[Source]
    weights: list[float]
    noise: Source | None
    shard: grain.sharding.ShardOptions
    local_batch: int

    def describe(self) -> str:
        parts = [f"{s.name} ({len(s)} items, weight {w:g})" for s, w in zip(self.sources, self.weights)]
        if self.noise is not None:
            parts.append(f"noise {self.noise.name} ({len(self.noise)} items)")
        return (f"{'; '.join(parts)}; process {self.shard.shard_index} of {self.shard.shard_count} "
                f"takes {self.local_batch} examples a step")

    def scan_skips(self) -> int:
        """Unreadable files found while opening the sources (excluded from training)."""
        noise = [self.noise] if self.noise is not None else []
        return sum(len(s.skipped) for s in self.sources + noise)


def _tag(source_id: int, index: Any) -> tuple[int, int]:
    return source_id, int(index)


def example_sequence(sizes: Sequence[int], weights: Sequence[float], seed: int) -> grain.MapDataset:
    """The endless global sequence of (source id, item index): each source reshuffled every epoch,
    the sources interleaved in proportion to their weights. It does not depend on the run's
    length, so a run extended past its first num_steps continues the same sequence."""
    parts = []
    for k, size in enumerate(sizes):
        part = grain.MapDataset.range(size).seed(seed + 7919 * k).shuffle().repeat()
        parts.append(part.map(functools.partial(_tag, k)))
    return grain.MapDataset.mix(parts, list(weights)) if len(parts) > 1 else parts[0]


def local_batch_size(global_batch: int, process_count: int) -> int:
    if global_batch % process_count:
        raise ValueError(f"data.batch_size={global_batch} must be divisible by the "
                         f"{process_count} processes")
    return global_batch // process_count


def make_training_data(config, *, num_steps: int | None = None,
                       shard: grain.sharding.ShardOptions | None = None) -> TrainingData:
    """Opens the configured sources and builds this process's batch dataset (len = num_steps)."""
    dt = config.data
    shard = shard or grain.sharding.ShardByJaxProcess(drop_remainder=True)
    entries = mixture(dt.train, tuple(dt.kinds))
    sources = [open_source(e["spec"], kinds=e["kinds"], kind=e["kind"], data_dir=dt.data_dir)
               for e in entries]
    weights = [e["weight"] for e in entries]
    noise = (open_source(dt.noise, kinds=tuple(dt.noise_kinds), data_dir=dt.data_dir)
             if dt.noise else None)
    from sscodec.config import samples_per_frame  # config helpers only; no model code
    length = dt.crop_frames * samples_per_frame(config)
    local_batch = local_batch_size(dt.batch_size, shard.shard_count)
    steps = max(config.num_steps if num_steps is None else num_steps, 1)
    examples = example_sequence([len(s) for s in sources], weights, config.seed)
    maker = ExampleMaker(sources, length, config.sample_rate, noise, min_rms=dt.min_crop_rms,
                         peak_db_range=tuple(dt.peak_db_range), noisy_prob=dt.noisy_prob,
                         denoise_prob=dt.denoise_prob, noise_gain_db=tuple(dt.noise_gain_db),
                         channels=config.model.channels)
    # random_map before the host slice: example g's randomness depends on g, not on the host count.
    ds = examples.seed(config.seed).random_map(maker)
    ds = ds[shard.shard_index::shard.shard_count].batch(local_batch, drop_remainder=True)
    return TrainingData(ds[:steps], sources, weights, noise, shard, local_batch)


def resolve_worker_count(worker_count: int) -> int:
    """`data.worker_count`; -1 picks one worker per two CPU cores beyond the first two, up to 16."""
    if worker_count >= 0:
        return worker_count
    return max(0, min(16, ((os.cpu_count() or 1) - 2) // 2))


def make_iterator(dataset: grain.MapDataset, *, start: int = 0, worker_count: int = 0,
                  buffer_size: int = 2) -> grain.DatasetIterator:
    """A checkpointable iterator over dataset[start:], prefetched by worker processes when > 0."""
    ds = dataset[start:].to_iter_dataset()
    if worker_count > 0:
        from absl import flags  # grain workers read absl flags (see the platform notes)
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(
            num_workers=worker_count, per_worker_buffer_size=buffer_size))
    return iter(ds)


def close_iterator(iterator: grain.DatasetIterator) -> None:
    """Stops the iterator's prefetch worker processes, if it has any."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def split_batch(batch: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], int]:
    """(the arrays the train step takes, the number of unreadable items replaced in this batch)."""
    batch = dict(batch)
    skipped = int(np.sum(batch.pop("skipped", 0)))
    return batch, skipped


class IteratorSnapshot:
    """A Grain iterator's state taken now, for an asynchronous checkpoint save (the live iterator
    moves on while Orbax writes). Grain's checkpoint handler reads it through `get_state()`."""

    def __init__(self, iterator: grain.DatasetIterator):
        self._state = json.dumps(iterator.get_state(), indent=1).encode()

    def get_state(self) -> bytes:
        return self._state
