"""The launchers that need a cloud, tested offline: shell syntax, the exact commands the TPU VM
and XPK scripts run (gcloud and xpk replaced on PATH by programs that record their arguments),
the arguments surviving the remote shell's quoting, and the GKE JobSet manifest's structure.
launch/slurm.sbatch runs for real in tests/test_slurm.py."""

import json
import os
import shlex
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

LAUNCH = os.path.join(ROOT, "launch")
TRAIN = ["sscodec", "train", "--config", "experiments/tiny.py", "--workdir",
         "gs://bucket/runs/a run", "--config.optim.generator_lr=1e-4"]


def run_with_recorders(tmp_path, script: str, *args: str):
    """Runs launch/`script` with `gcloud` and `xpk` recording their argv; returns (result, calls)."""
    bin_dir, record = tmp_path / "bin", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    for name in ("gcloud", "xpk"):
        tool = bin_dir / name
        tool.write_text(f"#!/usr/bin/env python3\nimport json, sys\n"
                        f"open({str(record)!r}, 'a').write(json.dumps(['{name}'] + sys.argv[1:]) + '\\n')\n")
        tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", os.path.join(LAUNCH, script), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    calls = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return result, calls


def flag(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


@pytest.mark.parametrize("script", ["tpu_vm.sh", "xpk.sh", "slurm.sbatch"])
def test_scripts_parse(script):
    result = subprocess.run(["bash", "-n", os.path.join(LAUNCH, script)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr


def test_tpu_vm_copies_the_repo_to_every_worker_and_runs_the_command_there(tmp_path):
    result, calls = run_with_recorders(tmp_path, "tpu_vm.sh", "my-v5e-32", "us-west4-a",
                                       "my-project", "--", *TRAIN)
    assert result.returncode == 0, result.stderr
    scp, ssh = calls
    assert scp[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "scp"]
    assert flag(scp, "--zone") == "us-west4-a" and flag(scp, "--project") == "my-project"
    assert "--worker=all" in scp and scp[-2:] == [ROOT, "my-v5e-32:~/sscodec"]
    assert ssh[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "my-v5e-32"]
    assert "--worker=all" in ssh
    remote = flag(ssh, "--command")
    assert "pip install -q -r requirements.txt -e . 'jax[tpu]==0.10.2'" in remote
    assert shlex.split(remote.split("&& ")[-1]) == TRAIN  # the space in the workdir survives


def test_xpk_creates_one_workload_with_the_install_and_the_command(tmp_path):
    result, calls = run_with_recorders(tmp_path, "xpk.sh", "my-cluster", "v5litepod-256", "2",
                                       "--", *TRAIN)
    assert result.returncode == 0, result.stderr
    (call,) = calls
    assert call[:3] == ["xpk", "workload", "create"]
    assert flag(call, "--cluster") == "my-cluster" and flag(call, "--tpu-type") == "v5litepod-256"
    assert flag(call, "--num-slices") == "2" and flag(call, "--script-dir") == ROOT
    assert flag(call, "--workload").startswith("sscodec-")
    assert shlex.split(flag(call, "--command").split("&& ")[-1]) == TRAIN


@pytest.mark.parametrize("script,args", [("tpu_vm.sh", ["only-a-name"]),
                                         ("xpk.sh", ["cluster", "v5e", "--"])])
def test_missing_arguments_print_usage_and_exit_2(tmp_path, script, args):
    result, calls = run_with_recorders(tmp_path, script, *args)
    assert result.returncode == 2 and result.stderr.startswith("usage:") and not calls


def test_gke_jobset_runs_one_training_process_per_host_and_restarts_on_preemption():
    with open(os.path.join(LAUNCH, "gke", "jobset.yaml")) as f:
        (jobset,) = list(yaml.safe_load_all(f))
    assert jobset["apiVersion"].startswith("jobset.x-k8s.io/") and jobset["kind"] == "JobSet"
    assert jobset["spec"]["failurePolicy"]["maxRestarts"] >= 1
    (workers,) = jobset["spec"]["replicatedJobs"]
    job = workers["template"]["spec"]
    pod = job["template"]["spec"]
    assert job["parallelism"] == job["completions"] and job["backoffLimit"] == 0
    assert pod["restartPolicy"] == "Never" and pod["terminationGracePeriodSeconds"] >= 30
    (container,) = pod["containers"]
    assert container["command"][:2] == ["sscodec", "train"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SSCODEC_NUM_PROCESSES"]["value"] == str(job["parallelism"])
    assert env["SSCODEC_PREEMPTED_EXIT_CODE"]["value"] == "75"
    host, port = env["SSCODEC_COORDINATOR"]["value"].rsplit(":", 1)
    # pod 0 of the JobSet's headless service: <jobset>-<job>-0-0.<jobset>
    name = jobset["metadata"]["name"]
    assert host == f"{name}-{workers['name']}-0-0.{name}"
    assert int(port) in [p["containerPort"] for p in container["ports"]]
    assert "job-completion-index" in env["SSCODEC_PROCESS_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
