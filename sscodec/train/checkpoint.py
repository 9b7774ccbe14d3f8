"""Orbax checkpointing of the training state, a small JSON metadata item and the data iterator.

Saves are asynchronous and atomic: Orbax writes each step into a temporary folder and renames it
when complete, so a crash in the middle of a save leaves the previous checkpoint intact (an
unfinished step is ignored on restore). Every process calls `save`, as Orbax requires. The Grain
iterator state is one JSON file per process (`data/process_<i>-of-<n>.json`) in the same step.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
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
        self._check_space(step, state)
        items = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta or {})}
        if data is not None:
            items["data"] = grain.checkpoint.CheckpointSave(data)
        with self._write_errors(f"the checkpoint of step {step}"):
            return self.manager.save(step, args=ocp.args.Composite(**items), force=force)

    def _check_space(self, step: int, state: Any) -> None:
        """Refuses a save that cannot fit, before anything is written: Orbax would fail half-way
        in background threads (the previous checkpoint stays good either way)."""
        needed = int(1.1 * sum(getattr(x, "nbytes", 0) for x in jax.tree.leaves(state))) + (1 << 20)
        try:
            free = shutil.disk_usage(self.directory).free
        except OSError:  # not a local folder (gs://...) or not created yet
            return
        if free < needed:
            raise OSError(errno.ENOSPC, f"no room in {self.directory} for the checkpoint of step "
                          f"{step}: it needs about {needed / 1e6:.1f} MB and {free / 1e6:.1f} MB "
                          f"are free. {self._intact()}")

    def _intact(self) -> str:
        latest = self.latest_step()
        return ("No checkpoint was complete yet." if latest is None else
                f"The last checkpoint (step {latest}) is complete: make room (or move the "
                "workdir) and run the same command to resume from it.")

    @contextlib.contextmanager
    def _write_errors(self, what: str):
        """Orbax reports a failed write (full disk, read-only or vanished folder) as a
        ValueError or RuntimeError carrying the OS error; this raises it as an OSError that says
        which checkpoint failed and which one is intact."""
        try:
            yield
        except OSError:
            raise
        except Exception as e:  # noqa: BLE001 - re-raised unless it is an OS error in disguise
            code = _os_error_code(str(e))
            if code is None:
                raise
            raise OSError(code, f"writing {what} in {self.directory} failed: "
                          f"{os.strerror(code)}. {self._intact()}") from e

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
        with self._write_errors("a checkpoint"):
            self.manager.wait_until_finished()

    def close(self) -> None:
        with self._write_errors("a checkpoint"):
            self.manager.wait_until_finished()
        self.manager.close()


_ERROR_NAMES = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES}


def _os_error_code(message: str) -> int | None:
    """The errno inside an Orbax/TensorStore error message, if there is one."""
    found = re.search(r"os_error_code='?(\d+)", message)
    if found:
        return int(found.group(1))
    return next((code for name, code in _ERROR_NAMES.items() if name in message), None)


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


STATE_README = """# Full training state of {name}

The complete training state of a sscodec run at step {step}: generator and discriminator
parameters, RVQ codebooks and statistics, both Adam states, the loss balancer and the step
(an Orbax checkpoint, without the data iterator's position), with the run's config.json.

Fine-tune from it with discriminators and codebooks (fresh optimizers, step 0):
  sscodec train --config EXPERIMENT.py --workdir NEW_RUN --init-from {folder}
Continue it exactly (optimizers and step too):
  sscodec train --config EXPERIMENT.py --workdir NEW_RUN --resume {folder}
"""


def publish_training_state(workdir: str, out: str, step: int | None = None,
                           name: str = "") -> str:
    """Copies `workdir`'s checkpoint `step` (default latest) to OUT as a run folder that
    `--init-from` and `--resume` accept (OUT/checkpoints/STEP, OUT/config.json, OUT/README.md):
    what users of a shipped model need to fine-tune it with its discriminators and codebooks. The
    data iterator's position is left out (it belongs to the run's machine layout and data).
    Written under a temporary name and renamed, so OUT is never half there. Returns OUT."""
    directory, located = locate(workdir)
    source = Checkpointer(directory, read_only=True)
    try:
        step = step if step is not None else (located or source.latest_step())
        if step is None or step not in source.all_steps():
            raise FileNotFoundError(f"no checkpoint of step {step} in {directory}")
    finally:
        source.close()
    config = os.path.join(os.path.dirname(directory), "config.json")
    if not os.path.isfile(config):
        raise FileNotFoundError(f"no config.json beside {directory}: not a training run")
    if os.path.exists(out):
        raise FileExistsError(f"{out} exists: choose a new folder")
    staging = f"{out.rstrip(os.sep)}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(os.path.join(directory, str(step)),
                    os.path.join(staging, "checkpoints", str(step)),
                    ignore=lambda folder, names: ["data"] if folder.rstrip(os.sep).endswith(
                        os.sep + str(step)) else [])
    shutil.copy(config, os.path.join(staging, "config.json"))
    with open(os.path.join(staging, "README.md"), "w") as f:
        f.write(STATE_README.format(name=name or os.path.basename(os.path.abspath(workdir)),
                                    step=step, folder=out))
    os.replace(staging, out)
    return out
