"""`sscodec train` and `sscodec info` end to end, through the installed command's entry point."""

import json
import os
import subprocess
import sys

import soundfile as sf

from sscodec.train.reporting import read_metrics
from tests.conftest import ROOT

TINY = os.path.join(ROOT, "experiments", "tiny.py")
SHORT = ["--config.train.log_every=5", "--config.train.checkpoint_every=10",
         "--config.train.sample_every=10", "--config.train.sample_seconds=1.0"]


def sscodec(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "sscodec.cli", *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_info_json_reports_the_paper_model():
    out = sscodec("info", "--config", os.path.join(ROOT, "experiments", "soundstream_24khz.py"),
                  "--json")
    info = json.loads(out.stdout)
    assert abs(info["parameters"]["generator_trainable"] - 8.4e6) < 0.84e6
    assert info["frame_rate_hz"] == 75 and info["samples_per_frame"] == 320
    assert info["latency_ms"] > 13.3 and info["receptive_field_samples"] > 320
    kbps = {b["n_q"]: b["kbps"] for b in info["bitrates"]}
    assert kbps[4] == 3 and kbps[8] == 6 and kbps[24] == 18 and len(kbps) == 24
    for key in ("encoder", "decoder", "quantizer_codebooks", "stft_discriminator",
                "wave_discriminator_scale0", "wave_discriminator_scale2"):
        assert info["parameters"][key] > 0


def test_bad_override_is_a_clear_error():
    out = sscodec("info", "--config", TINY, "--config.quantizer.num_quantizers=0", check=False)
    assert out.returncode == 2 and "config.quantizer.num_quantizers" in out.stderr


def test_train_writes_everything_and_resumes_exactly(tmp_path):
    workdir = str(tmp_path / "run")
    first = sscodec("train", "--config", TINY, "--workdir", workdir, "--config.num_steps=20", *SHORT)
    assert "step/s" in first.stderr and "audio_s_per_s" in first.stderr  # the progress bar
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints")))[-2:] == ["10", "20"]
    assert [m["step"] for m in read_metrics(workdir)] == [5, 10, 15, 20]
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    sample_dir = os.path.join(workdir, "samples", "step_00000020")
    wavs = sorted(os.listdir(sample_dir))
    assert any("speech" in w and "recon" in w for w in wavs) and any("music" in w for w in wavs)
    audio, rate = sf.read(os.path.join(sample_dir, wavs[0]))
    assert rate == 24000 and len(audio) == 24000

    second = sscodec("train", "--config", TINY, "--workdir", workdir, "--config.num_steps=30",
                     *SHORT)
    assert "resumed from step 20" in second.stderr
    resumed = read_metrics(workdir)
    assert [m["step"] for m in resumed] == [5, 10, 15, 20, 25, 30]

    # An uninterrupted run reaches the same losses at the same steps.
    straight = str(tmp_path / "straight")
    sscodec("train", "--config", TINY, "--workdir", straight, "--config.num_steps=30", *SHORT)
    for a, b in zip(resumed, read_metrics(straight)):
        assert a["step"] == b["step"]
        assert a["loss/generator"] == b["loss/generator"], (a, b)
        assert a["loss/discriminator"] == b["loss/discriminator"]
