"""`train_and_evaluate(config, workdir)`: the training loop as a library function.

It builds the models and the state (or restores the latest checkpoint in `workdir`), compiles the
train step ahead of time, k-means-initializes a fresh run's codebooks on its first batch (once,
as its own program), then runs the step with a progress bar, metrics (metrics.jsonl, TensorBoard),
audio samples, validation on held-out clips (sscodec.train.validation) and periodic Orbax
checkpoints. A non-finite loss stops the run with `NonFiniteLossError` before anything non-finite
is saved, so the last checkpoint stays good.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import time

import grain
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import ConfigDict
from tqdm.auto import tqdm

from data_pipelines import pipeline
from sscodec.train.checkpoint import Checkpointer, locate
from sscodec.train.runtime import PreemptionWatch
from sscodec.platforms import enable_compilation_cache
from sscodec.train import parallel, runtime
from sscodec.config import INIT_FROM_WEIGHTS, samples_per_frame
from sscodec.train.reporting import MetricWriter, SampleWriter, load_sample_clips
from sscodec.train.state import build_models, count_params, create_state, crop_length
from sscodec.train.step import codebooks_initialized, compile_train_step, initialize_codebooks
from sscodec.train import validation

log = logging.getLogger(__name__)

WEIGHTS = INIT_FROM_WEIGHTS  # what --init-from takes (train.init_from_weights picks among them)


class TimeBudget:
    """`train.time_budget_s` of the loop's own time (data, step; not compilation, validation,
    samples or checkpoints) on `train.time_budget_clock`, carried across resumes in the
    checkpoint metadata ("train_seconds"). Every process of a job stops at the same step: the main
    process's account decides, broadcast at log steps."""

    def __init__(self, train: ConfigDict, meta: dict):
        self.limit = float(train.time_budget_s)
        self.clock_name = train.time_budget_clock
        self.clock = time.process_time if self.clock_name == "cpu" else time.perf_counter
        self.seconds = float(meta.get("train_seconds", 0.0))
        self._t0 = None

    def start_step(self) -> None:
        self._t0 = self.clock()

    def end_step(self) -> None:
        self.seconds += self.clock() - self._t0

    def spent(self) -> bool:
        return self.limit > 0 and self.seconds >= self.limit

    def agreed_spent(self) -> bool:
        if self.limit <= 0:
            return False
        if jax.process_count() == 1:
            return self.spent()
        from jax.experimental import multihost_utils
        return bool(multihost_utils.broadcast_one_to_all(np.array(self.spent())))

    def postfix(self) -> dict[str, str]:
        return {"budget": f"{min(1.0, self.seconds / self.limit):.0%}"} if self.limit else {}

    def record(self, workdir: str, step: int, is_main: bool) -> None:
        """Writes WORKDIR/time_budget.json, which says the run ended on its budget (sweeps read it)."""
        log.info("time budget spent at step %d: %.0f of %.0f s; saved and stopping", step,
                 self.seconds, self.limit)
        if is_main:
            with open(os.path.join(workdir, BUDGET_FILE), "w") as f:
                json.dump({"step": step, "seconds": self.seconds, "limit": self.limit,
                           "clock": self.clock_name}, f)


BUDGET_FILE = "time_budget.json"


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the run stopped without saving the bad state."""


def _check_finite(step: int, metrics: dict) -> None:
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        raise NonFiniteLossError(
            f"non-finite values at step {step}: {bad}. The run stopped; the last saved checkpoint "
            "is intact. Lower the learning rates, enable optim.grad_clip_norm, or inspect the data.")


def _open_batches(data: pipeline.TrainingData, config: ConfigDict, checkpointer: Checkpointer,
                  saved: int | None, meta: dict, start: int) -> tuple[grain.DatasetIterator, dict]:
    """The data iterator positioned at step `start`, and the dataset offset it runs from.

    The iterator runs over dataset[offset:] and its saved state is relative to that offset. A
    checkpoint without state for this process layout (another process or worker count) restarts
    the data at `start`: the batch of step s is dataset[s], so the step alone gives the position.
    Returns the iterator and what the checkpoint metadata must record to restore it.
    """
    offset = int(meta.get("data_offset", 0))
    workers = pipeline.resolve_worker_count(config.data.worker_count)
    open_at = functools.partial(pipeline.make_iterator, data.dataset, worker_count=workers,
                                buffer_size=config.data.worker_buffer_size)
    batches = open_at(start=offset)
    # Grain accepts another worker count's state without complaint, at the wrong position.
    same_layout = meta.get("data_workers") == workers
    if saved is not None and not (same_layout and checkpointer.restore_data(batches, saved)):
        log.info("data: no iterator state for this process layout; restarting it at step %d", start)
        pipeline.close_iterator(batches)
        offset, batches = start, open_at(start=start)
    return batches, {"data_offset": offset, "data_workers": workers}


def _restore(state: dict, checkpointer: Checkpointer, resume: str | None,
             init_from: str | None, parts: tuple[str, ...] = WEIGHTS
             ) -> tuple[dict, int | None, dict]:
    """The starting state, by precedence: the workdir's latest checkpoint, then `resume` (another
    run's full state: parameters, optimizers, step), then `init_from` (the `parts` of WEIGHTS:
    parameters and codebooks only; fresh optimizers at step 0), then the fresh `state`.
    Returns (state, the workdir step restored or None, its metadata)."""
    saved = checkpointer.latest_step()
    if saved is not None:
        state, meta = checkpointer.restore(state, saved)
        log.info("resumed from step %d in %s", saved, checkpointer.directory)
        return state, saved, meta
    for path, full in ((resume, True), (init_from, False)):
        if not path:
            continue
        directory, step = locate(path)
        source = Checkpointer(directory, read_only=True)
        try:
            if full:
                state, _ = source.restore(state, step)
            else:
                weights = {k: state[k] for k in parts}
                state = {**state, **source.restore_weights(weights, step)}
                if "gen_ema" in state and "gen_params" in parts:  # the average starts there
                    state["gen_ema"] = jax.tree.map(jnp.copy, state["gen_params"])
        finally:
            source.close()
        log.info("%s %s (step %s)", "resumed from" if full else
                 f"initialized {', '.join(parts)} from", directory,
                 step if step is not None else "latest")
        break
    return state, None, {}


def train_and_evaluate(config: ConfigDict, workdir: str, *, resume: str | None = None,
                       init_from: str | None = None) -> dict:
    """Trains until `config.num_steps`; resumes from the latest checkpoint in `workdir`, else
    from `resume` (a run, checkpoints or step folder), else takes the weights of `init_from`.

    Every process of a multi-host job calls this. SIGTERM (preemption) saves a checkpoint at a
    step all processes agree on and returns. Returns the last logged metrics (empty if no step
    ran), with "preempted_at" set when the run stopped for a preemption.
    """
    os.makedirs(workdir, exist_ok=True)
    enable_compilation_cache()
    is_main = jax.process_index() == 0
    if is_main:
        with open(os.path.join(workdir, "config.json"), "w") as f:
            json.dump(config.to_dict(), f, indent=2, default=list)

    # --- Data: this process's share of every global batch
    data = pipeline.make_training_data(config)
    length, batch_size = crop_length(config), config.data.batch_size
    log.info("data: %s", data.describe())
    if data.scan_skips():
        log.warning("data: %d unreadable file(s) excluded (see `sscodec data stats`)",
                    data.scan_skips())

    # --- Model, state, checkpoint
    mesh = parallel.make_mesh(config.mesh)
    rules = tuple(config.mesh.rules)
    parallel.check_batch_size(batch_size, mesh, rules)
    models = build_models(config)
    state = create_state(models, config, mesh)
    # Orbax's first cross-process collectives (in the manager and the restore) build CPU gloo
    # contexts, whose key-value wait is a fixed 30 s: start them together. Seen with a busy loop
    # beside the suite: one process compiled the state's init 40 s after the other.
    runtime.barrier("state_created")
    checkpointer = Checkpointer(os.path.join(workdir, "checkpoints"), config.train.keep_checkpoints)
    state, saved, meta = _restore(state, checkpointer, resume, init_from,
                                  tuple(config.train.init_from_weights))
    start = int(jax.device_get(state["step"]))
    log.info("generator %.3f M params, discriminators %.3f M params",
             count_params(state["gen_params"]) / 1e6, count_params(state["disc_params"]) / 1e6)
    start_gan = config.loss.adversarial_start_step
    log.info("adversarial phase: %s", f"from step {start_gan}" if start_gan < config.num_steps
             else f"off (loss.adversarial_start_step {start_gan} >= num_steps {config.num_steps})")

    # Validation clips and metric models load while the other processes compile (no collectives)
    validator = None  # only the main process scores; every process joins run_eval's gather
    if is_main and config.train.eval_every > 0:
        validator = validation.Validator.from_config(config, models.generator)

    # --- Compile the step ahead of time
    budget = TimeBudget(config.train, meta)
    stop_at = start if budget.spent() else config.num_steps
    if start < stop_at:  # (every process reads the same checkpoint, so all agree)
        example = parallel.global_batch(pipeline.split_batch(data.dataset[0])[0], mesh, rules)
        t0 = time.perf_counter()
        compiled = compile_train_step(config, models, state, example)
        log.info("train step compiled in %.1f s", time.perf_counter() - t0)
        memory = compiled.memory_analysis()
        if memory is not None:
            log.info("train step memory per device: arguments %.1f MB, temporaries %.1f MB",
                     memory.argument_size_in_bytes / 2**20, memory.temp_size_in_bytes / 2**20)
    runtime.barrier("train_step_compiled")  # the first step's collectives start together

    writer = MetricWriter(workdir, enabled=is_main)
    samples = None
    if is_main and config.train.sample_every > 0:
        clips = load_sample_clips(data.sources, config.train.sample_seconds, config.sample_rate,
                                  samples_per_frame(config), config.model.channels)
        depths = config.train.sample_depths or (
            sorted({1, config.quantizer.num_quantizers}) if config.quantizer.dropout
            else [config.quantizer.num_quantizers])
        samples = SampleWriter(workdir, models.generator, clips, config.sample_rate, depths)

    if start >= config.num_steps:
        log.info("already at step %d of %d: nothing to train", start, config.num_steps)
    if budget.spent():
        log.info("time budget spent (%.0f of %.0f %s-seconds): nothing to train", budget.seconds,
                 budget.limit, config.train.time_budget_clock)
    audio_per_step = batch_size * length / config.sample_rate
    last: dict = {}
    # A time budget ends the run, not num_steps: the bar counts steps and shows the budget used.
    bar = tqdm(total=None if budget.limit else config.num_steps, initial=start, desc="train",
               unit="step", disable=not (is_main and config.train.progress), dynamic_ncols=True)
    skipped = 0
    batches, data_meta = _open_batches(data, config, checkpointer, saved, meta, start)
    preemption = PreemptionWatch(start)
    previous = None  # the last step's loss: blocking on it bounds the steps in flight
    window_start, window_steps = time.perf_counter(), 0
    eval_postfix: dict = {}
    needs_codebooks = not codebooks_initialized(state)
    try:
        for step in range(start, stop_at):
            budget.start_step()
            local, skipped_now = pipeline.split_batch(next(batches))
            skipped += skipped_now
            batch = parallel.global_batch(local, mesh, rules)
            if needs_codebooks:  # k-means on the first batch, once, outside the train step
                t0 = time.perf_counter()
                state = initialize_codebooks(config, models, state, batch)
                needs_codebooks = False
                log.info("codebooks initialized by k-means in %.1f s", time.perf_counter() - t0)
            state, metrics = compiled(state, batch)
            done = step + 1
            # At most this step in flight: the host waits for the previous one before preparing
            # the next, so a preemption is answered within about a step (data loading still
            # overlaps the device's work). Unbounded, the host ran tens of steps ahead.
            if previous is not None:
                jax.block_until_ready(previous)
            previous = metrics["loss/generator"]
            preemption.dispatched(done, previous)
            window_steps += 1
            bar.update(1)
            budget.end_step()
            out_of_time = done % config.train.log_every == 0 and budget.agreed_spent()
            save_now = (done % config.train.checkpoint_every == 0 or done == config.num_steps
                        or out_of_time)
            evals = {}
            if validation.due(config, done) or (out_of_time and config.train.eval_every > 0):
                evals = validation.run_eval(validator, state, done, writer)
                window_start += evals.get("perf/eval_seconds", 0.0)  # steps/s: training only
                eval_postfix = validator.postfix(evals) if validator is not None else {}
            if done % config.train.log_every == 0 or save_now:
                last = {k: float(v) for k, v in jax.device_get(metrics).items()}
                _check_finite(done, last)
                elapsed = time.perf_counter() - window_start
                last["perf/steps_per_s"] = window_steps / elapsed
                last["perf/audio_s_per_s"] = window_steps * audio_per_step / elapsed
                last["data/skipped"] = float(skipped)
                last["perf/train_seconds"] = budget.seconds
                window_start, window_steps = time.perf_counter(), 0
                last.update(evals)  # one line per step in metrics.jsonl
                writer.write(done, last)
                bar.set_postfix(loss=f"{last['loss/generator']:.3g}",
                                rec=f"{last['loss/reconstruction']:.3g}",
                                audio_s_per_s=f"{last['perf/audio_s_per_s']:.2f}",
                                **budget.postfix(),
                                **eval_postfix)
            elif evals:
                writer.write(done, evals)
            if samples is not None and (done % config.train.sample_every == 0
                                        or done == config.num_steps or out_of_time):
                samples.write(done, state)
            preempted = preemption.reached(done)
            if preempted:  # never save a non-finite state, even when asked to stop
                _check_finite(done, {k: float(v) for k, v in jax.device_get(metrics).items()})
            if save_now or preempted:
                meta = {"step": done, "metrics": last, "train_seconds": budget.seconds, **data_meta}
                checkpointer.save(done, state, meta, data=pipeline.IteratorSnapshot(batches))
            if preempted:
                log.warning("preempted: saved step %d in %s; exiting (%s)", done,
                            checkpointer.directory, preemption.answer(done))
                last["preempted_at"] = done
                break
            if out_of_time:
                budget.record(workdir, done, is_main)
                last["budget_stopped_at"] = done
                break
    finally:
        preemption.close()
        pipeline.close_iterator(batches)
        bar.close()
        writer.close()
        if skipped:
            log.warning("data: replaced %d unreadable item(s) on this process during this run",
                        skipped)
        checkpointer.close()
    end = last.get("preempted_at", last.get("budget_stopped_at", max(start, stop_at)))
    log.info("done at step %d: checkpoints, metrics.jsonl, tensorboard/ and samples/ in %s",
             end, os.path.abspath(workdir))
    return last
