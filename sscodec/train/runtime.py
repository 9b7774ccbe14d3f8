"""The multi-host runtime: `jax.distributed` from the environment, barriers, preemption (platform
choice and the compile caches are in sscodec.platforms).

`initialize()` runs before anything touches a device. It starts `jax.distributed` when the
environment describes a multi-process job:

  SSCODEC_COORDINATOR=host:port SSCODEC_NUM_PROCESSES=N SSCODEC_PROCESS_ID=i   (launch/local.py, GKE)
  a SLURM job with more than one task                                           (launch/slurm.sbatch)
  a multi-host TPU VM slice (TPU_WORKER_HOSTNAMES lists several hosts)          (launch/tpu_vm.sh)
  JAX_COORDINATOR_ADDRESS set                                                   (JAX's own variables)

and otherwise leaves a single process alone. A process that dies is noticed by the coordination
service's heartbeats (SSCODEC_HEARTBEAT_TIMEOUT seconds, default 60): the survivors stop with an
error naming the failure instead of hanging in a collective.

`PreemptionWatch` turns SIGTERM (the preemption notice of TPU VMs, GKE and SLURM) into a save at a
step every process agrees on (JAX's preemption sync point), then a clean exit.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import sys
import time

log = logging.getLogger(__name__)


def _multi_process_env() -> dict | None:
    """Keyword arguments for jax.distributed.initialize, or None for a single process."""
    env = os.environ
    if env.get("SSCODEC_COORDINATOR"):
        return {"coordinator_address": env["SSCODEC_COORDINATOR"],
                "num_processes": int(env["SSCODEC_NUM_PROCESSES"]),
                "process_id": int(env["SSCODEC_PROCESS_ID"])}
    if int(env.get("SLURM_NTASKS", "1")) > 1 and env.get("SLURM_JOB_ID"):
        return {}  # JAX's SLURM cluster detection fills in the rest
    if len(env.get("TPU_WORKER_HOSTNAMES", "").split(",")) > 1 or env.get("JAX_COORDINATOR_ADDRESS"):
        return {}
    return None


def initialize() -> None:
    """Starts jax.distributed if the environment describes a multi-process job (idempotent)."""
    import jax
    from jax._src import distributed  # the public API has no "already initialized" query

    kwargs = _multi_process_env()
    if kwargs is None or distributed.global_state.client is not None:
        return
    timeout = int(os.environ.get("SSCODEC_HEARTBEAT_TIMEOUT", "60"))
    jax.distributed.initialize(**kwargs, heartbeat_timeout_seconds=timeout,
                               initialization_timeout=int(os.environ.get("SSCODEC_INIT_TIMEOUT",
                                                                         "300")))
    log.info("process %d of %d, %d local of %d devices", jax.process_index(),
             jax.process_count(), jax.local_device_count(), jax.device_count())


def barrier(name: str) -> None:
    """Waits (up to SSCODEC_INIT_TIMEOUT seconds) until every process reaches `name`.

    It uses the coordination service, not a device collective: the first collective builds the
    CPU gloo context, whose key-value wait is a fixed 30 s, so a process that finishes compiling
    more than 30 s before its peer (a busy machine, a cold cache) would fail there instead.
    """
    import jax
    from jax._src import distributed

    if jax.process_count() == 1 or distributed.global_state.client is None:
        return
    timeout = int(os.environ.get("SSCODEC_INIT_TIMEOUT", "300"))
    distributed.global_state.client.wait_at_barrier(f"sscodec:{name}", timeout * 1000)


def is_multi_process() -> bool:
    import jax
    return jax.process_count() > 1


def collective_errors() -> tuple[type[Exception], ...]:
    """The exceptions a failed cross-process collective raises."""
    import jax
    return (jax.errors.JaxRuntimeError,)


def abort(message: str, code: int = 5) -> None:
    """Exits at once with `message`: after a peer died, JAX's orderly shutdown would only wait for
    it and then crash with a wall of coordination-service errors."""
    import jax
    print(f"sscodec: error: process {jax.process_index()} of {jax.process_count()}: {message}",
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


class PreemptionWatch:
    """`reached(step)` is True at the step where every process should save and stop.

    Multi-process: JAX's preemption sync manager catches SIGTERM and agrees on a step across
    processes. Single process: a SIGTERM handler sets a flag (and is removed by `close`).
    The loop hands over each dispatched step with one of its output arrays (`dispatched`); at
    the signal the watch notes the last step whose output is ready, so the answer can say how
    far past the device's progress the saved step lies (`answer`).
    """

    def __init__(self, start: int = 0):
        import jax
        self.multi = jax.process_count() > 1
        self.signalled = False
        self._previous = None
        self._start = start
        self._recent: collections.deque = collections.deque(maxlen=256)  # (step, an output)
        self._at_signal: tuple[float, int] | None = None  # (time, finished step) at the signal
        if not self.multi:
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame) -> None:
        log.warning("SIGTERM: saving at the end of this step, then exiting")
        self.signalled = True
        self._at_signal = (time.monotonic(), self._finished())

    def dispatched(self, step: int, output) -> None:
        self._recent.append((step, output))

    def _finished(self) -> int:
        """The last dispatched step whose output the device has produced (not waiting for it)."""
        ready = [step for step, output in self._recent if output.is_ready()]
        return max(ready) if ready else self._recent[0][0] - 1 if self._recent else self._start

    def reached(self, step: int) -> bool:
        if self.multi:
            from jax.experimental import multihost_utils
            hit = multihost_utils.reached_preemption_sync_point(step)
            if hit and self._at_signal is None:  # JAX's handler took the signal: time from here
                self._at_signal = (time.monotonic(), self._finished())
            return hit
        return self.signalled

    def answer(self, saved: int) -> str:
        """How the signal was answered, for the log: seconds, and steps past the last step the
        device had finished when it came."""
        if self._at_signal is None:
            return "no signal"
        when, finished = self._at_signal
        return (f"{time.monotonic() - when:.1f} s after the signal, {saved - finished} step(s) "
                f"past the last one finished then")

    def close(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
