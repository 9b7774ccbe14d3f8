"""launch/slurm.sbatch on a real Slurm: a single-host cluster (slurmctld + slurmd from Debian's
packages, installed here when missing and run as root) runs the script with 2 tasks on the tiny
config; `scancel --signal=TERM` preempts it; the script requeues it; the requeued job resumes
and ends with the losses of an uninterrupted run."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import portpicker
import pytest

from tests.conftest import ROOT
from tests.test_multihost import QUICK, TINY, by_step, launch_local

PACKAGES = ("slurmctld", "slurmd", "slurm-client")
BINARIES = ("slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "sinfo")
STEPS = 8


def ensure_slurm() -> None:
    """Installs Debian's Slurm when it is missing (root and apt-get needed, else skip)."""
    if all(shutil.which(b) for b in BINARIES):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"Slurm is not installed: apt-get install {' '.join(PACKAGES)} (as root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{' '.join(command)}: {result.stderr[-2000:]}"


def slurm_conf(root: str) -> str:
    """A one-node cluster on loopback: the node is named localhost, so JAX's SLURM detection
    finds its coordinator whatever this machine's hostname resolves to."""
    host = socket.gethostname().split(".")[0]
    user = os.environ.get("USER") or "root"
    folders = {name: os.path.join(root, name) for name in ("state", "spool", "log")}
    for path in folders.values():
        os.makedirs(path, exist_ok=True)
    text = f"""ClusterName=sscodec-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/none
CredType=cred/none
SlurmctldPort={portpicker.pick_unused_port()}
SlurmdPort={portpicker.pick_unused_port()}
StateSaveLocation={folders['state']}
SlurmdSpoolDir={folders['spool']}
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={folders['log']}/slurmctld.log
SlurmdLogFile={folders['log']}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
# A requeued job waits out its old credential's lifetime (default 120 s) before it starts again;
# starting it sooner by hand (scontrol update StartTime=now) raced the old credential's
# revocation ("Job credential revoked").
AuthInfo=cred_expire=10
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
    path = os.path.join(root, "slurm.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def wait_for(what: str, predicate, timeout: float, daemons=(), every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for d in daemons:
            assert d.poll() is None, f"a Slurm daemon exited: {d.args}"
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running single-host Slurm; yields the environment its commands need."""
    ensure_slurm()
    root = str(tmp_path_factory.mktemp("slurm"))
    conf = slurm_conf(root)
    env = {**os.environ, "SLURM_CONF": conf}
    daemons = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
               for command in (["slurmctld", "-D", "-c", "-f", conf],
                               ["slurmd", "-D", "-N", "localhost", "-f", conf])]
    try:
        wait_for("the node to be idle", lambda: "idle" in subprocess.run(
            ["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout,
            60, daemons)
        yield env
    finally:
        subprocess.run(["scancel", "--full", "--partition=test"], env=env, capture_output=True)
        for d in daemons:
            d.terminate()
        for d in daemons:
            try:
                d.wait(timeout=30)
            except subprocess.TimeoutExpired:
                d.kill()
        for name in ("slurmctld", "slurmd"):
            log = os.path.join(root, "log", f"{name}.log")
            if os.path.exists(log):
                print(f"--- {name}.log (tail)\n" + open(log).read()[-2000:])


def job_fields(env, job: str) -> dict:
    out = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True,
                         text=True).stdout
    return dict(re.findall(r"(\w+)=(\S*)", out))


def venv_with_sscodec(path: str) -> str:
    """$VENV for the batch script: this Python's packages (sscodec installed by the README's
    command) and the `sscodec` entry point pip would write."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    path], check=True)
    script = os.path.join(path, "bin", "sscodec")
    with open(script, "w") as f:
        f.write(f"#!{path}/bin/python\nfrom sscodec.cli import entry_point\nentry_point()\n")
    os.chmod(script, 0o755)
    return path


@pytest.mark.slow
def test_sbatch_script_is_preempted_requeued_and_matches_an_uninterrupted_run(slurm, tmp_path):
    straight = launch_local(tmp_path / "straight", STEPS)  # 2 processes x 2 devices, as below
    out = straight.communicate(timeout=900)[0]
    assert straight.returncode == 0, out[-4000:]

    run, log = tmp_path / "slurm_run", tmp_path / "job.log"
    env = {**slurm, "VENV": venv_with_sscodec(str(tmp_path / "venv")), "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    # The script asks for 1 task per GPU node; this node has 2 CPU tasks and no GPUs.
    job = subprocess.run(
        ["sbatch", "--parsable", f"--output={log}", "--nodes=1", "--ntasks=2",
         "--ntasks-per-node=2", "--cpus-per-task=1", "--gpus-per-node=0",
         os.path.join(ROOT, "launch", "slurm.sbatch"), "--config", TINY, "--workdir", str(run),
         f"--config.num_steps={STEPS}", *QUICK],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()

    def job_log() -> str:
        return log.read_text() if log.exists() else ""

    metrics = run / "metrics.jsonl"
    wait_for("the first logged step", lambda: metrics.exists() and metrics.read_text(), 600,
             every=0.5)
    subprocess.run(["scancel", "--signal=TERM", job], env=env, check=True)
    def ended() -> dict | None:
        fields = job_fields(env, job)
        return fields if fields.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED") else None
    fields = wait_for("the job to end", ended, 900)
    text = job_log()
    assert fields["JobState"] == "COMPLETED" and fields["ExitCode"] == "0:0", text[-4000:]
    assert fields["Restarts"] == "1", text[-4000:]
    assert text.count("preempted: saved step") == 2, text[-4000:]
    assert f"requeueing job {job}" in text
    saved = int(re.search(r"preempted: saved step (\d+)", text).group(1))
    assert saved < STEPS and f"resumed from step {saved}" in text, text[-4000:]

    a, b = by_step(run), by_step(tmp_path / "straight")
    assert set(a) == set(b) == {2, 4, 6, 8}
    for step in b:
        assert a[step]["loss/generator"] == b[step]["loss/generator"], step
        assert a[step]["loss/discriminator"] == b[step]["loss/discriminator"], step
