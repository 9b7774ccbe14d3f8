"""Preemption benchmark: how long a training run takes to save and exit after SIGTERM, against
its step time.

Run:
  python experiments/benchmarks/preemption.py                       # tiny, signal after 8 s
  python experiments/benchmarks/preemption.py --config experiments/speech_cpu_24khz.py --after 60

The run trains with no metrics logging and no periodic checkpoints (both would sync host and
device and hide a host that queues steps far ahead), gets SIGTERM `--after` seconds after its
step compiled, and must save and exit. Printed: the step time (training seconds before the signal
over the steps saved), seconds from the signal to the preemption log line and to the process
exit, and how many steps past the device's progress at the signal the saved step lies. Spot VMs
and TPU preemptions give about 30 s; launch/slurm.sbatch asks for 120 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(config: str, after: float, extra: list[str]) -> dict:
    workdir = tempfile.mkdtemp(prefix="sscodec_preempt_")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sscodec.cli", "train", "--config", config, "--workdir", workdir,
         "--config.num_steps=1000000", "--config.train.log_every=1000000",
         "--config.train.checkpoint_every=1000000", "--config.train.sample_every=0",
         "--config.train.eval_every=0", "--config.train.progress=false", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(
        target=lambda: lines.extend((time.monotonic(), line) for line in proc.stdout), daemon=True)
    reader.start()
    try:
        while not any("train step compiled" in line for _, line in lines):
            if proc.poll() is not None:
                raise SystemExit("".join(line for _, line in lines)[-3000:])
            time.sleep(0.1)
        compiled = next(t for t, line in lines if "train step compiled" in line)
        time.sleep(after)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        exited = time.monotonic()
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    answered, line = next((t, line) for t, line in lines if "preempted: saved step" in line)
    saved = int(re.search(r"saved step (\d+)", line).group(1))
    past = int(re.search(r"(\d+) step\(s\) past", line).group(1))
    return {"step_s": (signalled - compiled) / max(saved - past, 1), "saved": saved, "past": past,
            "answer_s": answered - signalled, "exit_s": exited - signalled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=os.path.join(ROOT, "experiments", "tiny.py"))
    parser.add_argument("--after", type=float, default=8.0,
                        help="seconds of training before the signal")
    args, extra = parser.parse_known_args()
    r = measure(args.config, args.after, extra)
    print(f"config {os.path.basename(args.config)}: step {r['step_s']:.2f} s; SIGTERM after "
          f"{args.after:g} s of training -> saved step {r['saved']} ({r['past']} step(s) past the "
          f"device's progress), preemption logged {r['answer_s']:.1f} s and process exited "
          f"{r['exit_s']:.1f} s after the signal = {r['exit_s'] / r['step_s']:.1f} step times")


if __name__ == "__main__":
    main()
