"""A workdir that fills up or is read-only: training stops with exit code 2 and one line naming
the problem, and the last good checkpoint still restores. Real file systems: a tmpfs of a few
hundred KB free and a read-only bind mount (root needed to mount; skipped otherwise)."""

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TINY = os.path.join(ROOT, "experiments", "tiny.py")
QUIET = ["--config.train.log_every=1", "--config.train.checkpoint_every=2",
         "--config.train.sample_every=0", "--config.train.eval_every=0",
         "--config.train.progress=false"]


def train(workdir, steps: int):
    return subprocess.run(
        [sys.executable, "-m", "sscodec.cli", "train", "--config", TINY, "--workdir",
         str(workdir), f"--config.num_steps={steps}", *QUIET],
        cwd=ROOT, capture_output=True, text=True, timeout=900)


def tree_digest(folder) -> dict[str, str]:
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def folder_bytes(folder) -> int:
    return sum(os.path.getsize(os.path.join(r, n)) for r, _, files in os.walk(folder)
               for n in files)


@contextlib.contextmanager
def mounted(args: list[str], target):
    os.makedirs(target, exist_ok=True)
    result = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount here ({result.stderr.strip()[:200]}): needs root")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def assert_one_clear_error(result, words: str):
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-3000:]
    assert lines[-1].startswith("sscodec: error:") and words in lines[-1], lines[-1]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny model trained 2 steps, with its checkpoint at step 2."""
    workdir = tmp_path_factory.mktemp("faults") / "run"
    result = train(workdir, 2)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_a_full_disk_stops_the_run_and_keeps_the_last_checkpoint(trained, tmp_path):
    # A tmpfs that holds the run plus a little: the next checkpoint cannot fit.
    size = folder_bytes(trained) + 256 * 1024
    with mounted(["-t", "tmpfs", "-o", f"size={size}", "tmpfs"], tmp_path / "small") as disk:
        shutil.copytree(trained, disk / "run")
        before = tree_digest(disk / "run" / "checkpoints" / "2")
        assert_one_clear_error(train(disk / "run", 8),
                               "The last checkpoint (step 2) is complete")
        assert tree_digest(disk / "run" / "checkpoints" / "2") == before
        shutil.copytree(disk / "run", tmp_path / "moved")  # the user makes room elsewhere
    resumed = train(tmp_path / "moved", 4)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from step 2" in resumed.stderr or "resumed from step 4" in resumed.stderr
    assert os.path.isdir(tmp_path / "moved" / "checkpoints" / "4")


@pytest.mark.slow
def test_a_read_only_workdir_is_refused_and_left_as_it_was(trained, tmp_path):
    before = tree_digest(trained)
    target = tmp_path / "ro"
    with mounted(["--bind", str(trained)], target):
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(target)],
                                 capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        assert_one_clear_error(train(target, 4), "Read-only file system")
    assert tree_digest(trained) == before


def test_orbax_write_errors_become_os_errors_that_name_the_intact_checkpoint(tmp_path):
    """When the space check passes and a write still fails (another process filled the disk),
    Orbax's error (its real message, from a full tmpfs) becomes an OSError."""
    from sscodec.train.checkpoint import Checkpointer
    message = ('RESOURCE_EXHAUSTED: Error writing "disc_opt.0.mu.stft.Conv_0.bias/0" in OCDBT '
               'database at local file "/x/4.orbax-checkpoint-tmp/": Failed to write 24620 bytes '
               "to file 7: No space left on device [os_error_code='28']")
    checkpointer = Checkpointer(str(tmp_path / "checkpoints"))
    with pytest.raises(OSError, match="No space left on device. No checkpoint was complete") as e:
        with checkpointer._write_errors("the checkpoint of step 4"):
            raise ValueError(message)
    assert e.value.errno == 28
    with pytest.raises(KeyError):  # anything else passes through unchanged
        with checkpointer._write_errors("the checkpoint of step 4"):
            raise KeyError("not an OS error")
