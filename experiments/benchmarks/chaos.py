"""Chaos benchmark: a training run killed with SIGKILL again and again must end exactly where an
uninterrupted run ends.

Run (about 15 minutes on 2 cores for the default 20 kills; the suite runs 3 in
tests/test_chaos.py):
  python experiments/benchmarks/chaos.py
  python experiments/benchmarks/chaos.py --kills 5 --steps 16

The tiny config trains `--steps` steps twice: once straight through, once killed `--kills`
times and restarted after each kill (as a preemptible VM or a crashed job would be). Half the kills
come at a random moment (a random step among the next few after the last checkpoint, plus a
random fraction of a second), half the instant an asynchronous checkpoint write is under way (its
temporary folder exists; when none is seen in time, at a random moment too). A run too close to
its end for another kill starts over, so kills spread over the whole run. The killed run must resume from its last finished checkpoint every
time and end with per-step losses and final parameters bitwise equal to the straight run's.
Printed: kills survived, steps lost per kill, restores that failed, and whether losses and
parameters matched.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
TINY = os.path.join(ROOT, "experiments", "tiny.py")
FLAGS = ["--config.train.log_every=1", "--config.train.checkpoint_every=2",
         "--config.train.sample_every=0", "--config.train.eval_every=0",
         "--config.train.progress=false"]


def _train(workdir: str, steps: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sscodec.cli", "train", "--config", TINY, "--workdir", workdir,
         f"--config.num_steps={steps}", *FLAGS], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)


def _metrics_size(workdir: str) -> int:
    path = os.path.join(workdir, "metrics.jsonl")
    return os.path.getsize(path) if os.path.exists(path) else 0


def _logged_steps(workdir: str, offset: int = 0) -> dict[int, float]:
    """The last logged generator loss of every step (a resumed run logs some steps again),
    from byte `offset` of metrics.jsonl on (0: the whole file; else what one process wrote)."""
    path = os.path.join(workdir, "metrics.jsonl")
    losses: dict[int, float] = {}
    if os.path.exists(path):
        with open(path) as f:
            f.seek(offset)
            lines = f.read().splitlines()
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut by the kill
                continue
            if "loss/generator" in record:
                losses[record["step"]] = record["loss/generator"]
    return losses


def _saved_step(workdir: str) -> int:
    """The latest checkpoint whose write finished (what a restart resumes from), or 0."""
    from sscodec.train.checkpoint import Checkpointer
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        return 0
    return Checkpointer(directory, read_only=True).latest_step() or 0


WINDOW = 6  # a kill strikes within this many steps of the last checkpoint: spread over the run


def _kill_when(proc: subprocess.Popen, workdir: str, during_save: bool, steps: int,
               rng: random.Random, timeout: float = 600) -> str | None:
    """SIGKILLs `proc` the instant a checkpoint write is seen under way (`during_save`), or at
    a random moment: a random step among the next WINDOW after the last checkpoint, plus a
    random part of a second (so kills land in steps, saves, logging and start-up alike; a
    `during_save` kill that sees no write falls back to this too). Returns when it struck
    ("during a save" / "random"), or None if the run ended first."""
    start = _saved_step(workdir)
    if during_save:  # wait for a write through the whole window, then strike anyway
        target, delay = min(start + WINDOW, steps - 1), 0.0
    else:
        target, delay = rng.randint(start + 1, min(start + WINDOW, steps - 1)), rng.uniform(0, 1)
    offset = _metrics_size(workdir)  # this process's steps only, not the killed ones'
    pattern = os.path.join(workdir, "checkpoints", "*tmp*")
    stale = set(glob.glob(pattern))  # left by writes that earlier kills interrupted
    deadline = time.monotonic() + timeout
    reached_at = None
    while proc.poll() is None and time.monotonic() < deadline:
        writing = during_save and set(glob.glob(pattern)) - stale
        if reached_at is None and max(_logged_steps(workdir, offset), default=0) >= target:
            reached_at = time.monotonic()
        if writing or (reached_at is not None and time.monotonic() >= reached_at + delay):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return "during a save" if writing else "random"
        time.sleep(0.002 if during_save else 0.02)
    return None


def final_weights(workdir: str):
    from sscodec.train.export import load_run
    _, weights, step, _ = load_run(workdir, entropy_data=None)
    return step, weights


def run(kills: int, steps: int, seed: int, root: str) -> dict:
    import jax
    import numpy as np
    rng = random.Random(seed)
    straight, chaotic = os.path.join(root, "straight"), os.path.join(root, "chaos")
    proc = _train(straight, steps)
    if proc.wait() != 0:
        raise SystemExit(f"the straight run failed: {proc.stderr.read()[-2000:]}")
    lost, failed_restores, survived, during_saves, kill_steps = [], 0, 0, 0, []
    while survived < kills:
        before = _saved_step(chaotic)
        if before >= steps - 2:  # too close to the end for another kill: start the run over
            shutil.rmtree(chaotic, ignore_errors=True)
            before = 0
        offset = _metrics_size(chaotic)
        proc = _train(chaotic, steps)
        when = _kill_when(proc, chaotic, survived % 2 == 1, steps, rng)
        err = proc.stderr.read()
        if when is None:  # the run ended before the kill: a failure, or a finished run
            if proc.returncode != 0:
                failed_restores += 1
                print(f"restart failed (exit {proc.returncode}): {err.strip()[-300:]}")
            shutil.rmtree(chaotic, ignore_errors=True)  # start the killed run over
            continue
        if before and f"resumed from step {before}" not in err and "train step compiled" in err:
            failed_restores += 1
            print(f"kill {survived + 1}: did not resume from step {before}")
        reached = max(_logged_steps(chaotic, offset), default=before)
        lost.append(max(0, reached - _saved_step(chaotic)))
        kill_steps.append(reached)
        survived += 1
        during_saves += when == "during a save"
        print(f"kill {survived}/{kills} ({when}): at step {reached}, last checkpoint "
              f"{_saved_step(chaotic)}", flush=True)
    proc = _train(chaotic, steps)
    finished = proc.wait() == 0
    a, b = _logged_steps(chaotic), _logged_steps(straight)
    losses_equal = finished and set(a) == set(b) and all(a[s] == b[s] for s in b)
    step_a, weights_a = final_weights(chaotic)
    step_b, weights_b = final_weights(straight)
    params_equal = step_a == step_b == steps and all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(weights_a), jax.tree.leaves(weights_b)))
    return {"kills": survived, "during_saves": during_saves, "steps_lost": lost,
            "kill_steps": kill_steps, "failed_restores": failed_restores,
            "finished": finished, "losses_equal": losses_equal, "params_equal": params_equal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--steps", type=int, default=24, help="steps of each run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sscodec_chaos_") as root:
        r = run(args.kills, args.steps, args.seed, root)
    lost = r["steps_lost"]
    print(f"kills survived {r['kills']}/{args.kills} ({r['during_saves']} during a checkpoint "
          f"write); steps lost per kill: mean "
          f"{sum(lost) / max(len(lost), 1):.1f}, max {max(lost, default=0)}; failed restores "
          f"{r['failed_restores']}; finished {r['finished']}; per-step losses equal to the "
          f"uninterrupted run: {r['losses_equal']}; final parameters equal: {r['params_equal']}")
    print(f"steps reached when killed: {sorted(r['kill_steps'])}")


if __name__ == "__main__":
    main()
