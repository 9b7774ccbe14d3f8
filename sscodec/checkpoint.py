"""Orbax checkpointing of the training state, a small JSON metadata item and the data iterator.

Saves are asynchronous and atomic: Orbax writes each step into a temporary folder and renames it
when complete, so a crash in the middle of a save leaves the previous checkpoint intact (an
unfinished step is ignored on restore). Every process calls `save`, as Orbax requires. The Grain
iterator state is one JSON file per process (`data/process_<i>-of-<n>.json`) in the same step.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


class Checkpointer:
    """Keeps the last `keep` checkpoints of `{state, meta, data}` under `directory`."""

    def __init__(self, directory: str, keep: int = 3, async_save: bool = True,
                 read_only: bool = False):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                               enable_async_checkpointing=async_save,
                                               read_only=read_only)
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "meta", "data"),
            item_handlers={"data": grain.checkpoint.CheckpointHandler()})

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state: Any, meta: dict | None = None, data: Any = None,
             force: bool = True) -> bool:
        """Saves `state`, `meta` and (if given) a data iterator or its `IteratorSnapshot`."""
        items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta or {})}
        if data is not None:
            items["data"] = grain.checkpoint.CheckpointSave(data)
        return self.manager.save(step, args=ocp.args.Composite(**items), force=force)

    def restore(self, target: Any, step: int | None = None) -> tuple[Any, dict]:
        """Restores `step` (default: latest) into the structure, shapes and shardings of `target`."""
        step = self._step(step)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        return restored["state"], dict(restored["meta"] or {})

    def restore_weights(self, target: Any, step: int | None = None) -> Any:
        """Restores only the leaves of `target` (a sub-tree of the saved state, e.g. the
        parameters and codebooks; arrays or ShapeDtypeStructs with shardings) into its shapes and
        shardings; the rest is not read."""
        step = self._step(step)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
            item=abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract),
            partial_restore=True)))
        return restored["state"]

    def restore_data(self, iterator: grain.DatasetIterator, step: int | None = None) -> bool:
        """Sets `iterator` to its state saved at `step`; False (iterator untouched) when that step
        holds no state for this process, e.g. saved with another process or worker count."""
        step = self._step(step)
        name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
        if not os.path.exists(os.path.join(self.directory, str(step), "data", name)):
            return False
        try:
            self.manager.restore(step, args=ocp.args.Composite(
                data=grain.checkpoint.CheckpointRestore(iterator)))
        except (ValueError, KeyError) as e:  # Grain rejects a state of another pipeline layout
            log.warning("data iterator state at step %d does not fit this pipeline (%s)", step, e)
            return False
        return True

    def _step(self, step: int | None) -> int:
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        return step

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def locate(path: str) -> tuple[str, int | None]:
    """(checkpoints folder, step) for a run folder, its checkpoints/ folder or one step's folder
    (`.../checkpoints/1000`); step None means the latest there."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(os.path.join(path, "checkpoints")):
        return os.path.join(path, "checkpoints"), None
    name = os.path.basename(path.rstrip(os.sep))
    if name.isdigit() and os.path.isdir(os.path.join(path, "state")):
        return os.path.dirname(path), int(name)
    if os.path.isdir(path):
        return path, None
    raise FileNotFoundError(f"no checkpoint at {path}")
