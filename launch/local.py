"""Runs one command as N local JAX processes (CPU, gloo over loopback): a multi-host job in small.

  python -m launch.local --num-processes 2 --devices-per-process 2 -- \
      sscodec train --config experiments/tiny.py --workdir runs/tiny_2x2

Each process gets SSCODEC_COORDINATOR / SSCODEC_NUM_PROCESSES / SSCODEC_PROCESS_ID (read by
sscodec.train.runtime.initialize) and XLA_FLAGS with its fake CPU device count. Output lines are
prefixed with the process index. If one process fails, the others are stopped and its exit code
is returned; SIGTERM and SIGINT are passed on to every process (SIGTERM = a preemption notice:
the job saves a checkpoint and exits cleanly).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

import portpicker


def _pump(index: int, stream, out) -> None:
    for line in iter(stream.readline, ""):
        out.write(f"[{index}] {line}")
        out.flush()


def launch(command: list[str], num_processes: int, devices_per_process: int,
           port: int | None = None, grace_s: float = 30.0) -> int:
    """Runs `command` as `num_processes` processes; returns 0 or the first failure's exit code."""
    port = port or portpicker.pick_unused_port()
    procs = []
    for i in range(num_processes):
        env = {**os.environ, "SSCODEC_COORDINATOR": f"127.0.0.1:{port}",
               "SSCODEC_NUM_PROCESSES": str(num_processes), "SSCODEC_PROCESS_ID": str(i),
               "JAX_PLATFORMS": "cpu",
               "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices_per_process}"}
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        threading.Thread(target=_pump, args=(i, proc.stdout, sys.stdout), daemon=True).start()
        procs.append(proc)

    def forward(signum, frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        failure = 0
        while any(p.poll() is None for p in procs):
            bad = [p for p in procs if p.poll() not in (None, 0)]
            if bad and not failure:
                failure = bad[0].returncode
                print(f"launch.local: process {procs.index(bad[0])} exited with {failure}; "
                      "stopping the others", file=sys.stderr, flush=True)
                _stop([p for p in procs if p.poll() is None], grace_s)
            time.sleep(0.2)
        codes = [p.returncode for p in procs]
        return failure or next((c for c in codes if c != 0), 0)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _stop(procs: list[subprocess.Popen], grace_s: float) -> None:
    for p in procs:
        p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("usage: python -m launch.local [--num-processes N] [--devices-per-process D] "
              "-- COMMAND ...", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m launch.local", description=__doc__.split("\n")[0])
    parser.add_argument("--num-processes", "--num_processes", dest="num_processes", type=int,
                        default=2)
    parser.add_argument("--devices-per-process", "--devices_per_process", dest="devices_per_process",
                        type=int, default=2)
    parser.add_argument("--port", type=int, default=None, help="coordinator port (default: free)")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if command and command[0] == "sscodec":  # the same interpreter as the launcher
        command = [sys.executable, "-m", "sscodec.cli", *command[1:]]
    return launch(command, args.num_processes, args.devices_per_process, args.port)


if __name__ == "__main__":
    sys.exit(main())
