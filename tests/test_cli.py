"""`sscodec train` and `sscodec info` end to end, through the installed command's entry point."""

import json
import os
import subprocess
import sys

import soundfile as sf

from sscodec.train.reporting import read_metrics
import pytest

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


@pytest.mark.slow
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


@pytest.mark.slow
def test_denoising_run_with_a_worker_resumes_exactly_under_another_worker_count(tmp_path):
    """Noisy pairs through a Grain worker process; the resumed run (no workers, so the saved
    iterator state does not fit) restarts the data from the step and matches a straight run."""
    noisy = ["--config.model.film=encoder", "--config.data.noise=embedded",
             "--config.train.log_every=2", "--config.train.checkpoint_every=2",
             "--config.train.sample_every=0", "--config.train.eval_every=0"]
    workdir = str(tmp_path / "run")
    sscodec("train", "--config", TINY, "--workdir", workdir, "--config.num_steps=4",
            "--config.data.worker_count=1", *noisy)
    resumed = sscodec("train", "--config", TINY, "--workdir", workdir, "--config.num_steps=6",
                      "--config.data.worker_count=0", *noisy)
    assert "restarting it at step 4" in resumed.stderr
    straight = str(tmp_path / "straight")
    sscodec("train", "--config", TINY, "--workdir", straight, "--config.num_steps=6",
            "--config.data.worker_count=0", *noisy)
    a, b = read_metrics(workdir), read_metrics(straight)
    assert [m["step"] for m in a] == [m["step"] for m in b] == [2, 4, 6]
    for x, y in zip(a, b):
        assert x["loss/generator"] == y["loss/generator"], (x, y)
        assert x["data/skipped"] == 0


def test_data_index_and_stats_commands(tmp_path):
    corpus = tmp_path / "corpus"
    os.makedirs(corpus / "speech")
    src = os.path.join(ROOT, "data_pipelines", "embedded", "speech")
    for name in sorted(os.listdir(src))[:2]:
        os.link(os.path.join(src, name), corpus / "speech" / name)
    (corpus / "speech" / "broken.wav").write_bytes(b"RIFF0000WAVE")
    manifest = str(corpus / "manifest.jsonl")
    out = sscodec("data", "index", str(corpus), "--out", manifest)
    assert "2 files" in out.stdout and "1 unreadable" in out.stdout
    stats = json.loads(sscodec("data", "stats", manifest, "--json").stdout)
    assert stats["files"] == 2 and stats["hours_by_kind"].keys() == {"speech"}
    assert [os.path.basename(u["path"]) for u in stats["unreadable"]] == ["broken.wav"]
    text = sscodec("data", "stats", "embedded").stdout
    assert "37 files" in text and "unreadable:   0" in text
    missing = sscodec("data", "stats", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 2 and "data not found" in missing.stderr
    # A TFDS dataset: prepare the folder as array_record, then inspect and read it.
    data_dir = str(tmp_path / "tfds")
    out = sscodec("data", "prepare", "audio_folder", "--manual-dir", str(corpus),
                  "--data-dir", data_dir)
    assert "train: 2 examples" in out.stdout
    stats = json.loads(sscodec("data", "stats", "tfds:audio_folder:train", "--data-dir", data_dir,
                               "--json").stdout)
    assert stats["form"] == "tfds" and stats["files"] == 2
    assert stats["hours_by_kind"].keys() == {"speech"}


def test_flags_are_hyphenated_and_the_old_underscore_spellings_still_parse():
    from sscodec.cli.main import _parser
    for spelling in ("--init-from", "--init_from"):
        args = _parser().parse_args(["train", "--config", "c.py", "--workdir", "w", spelling, "r"])
        assert args.init_from == "r"
    for spelling in ("--num-slices", "--num_slices"):
        args = _parser().parse_args(["compile", "--config", "c.py", "--topology", "v5e:2x2",
                                     spelling, "2"])
        assert args.num_slices == 2
    for spelling in ("--eval-data", "--data"):  # ship's, spelled as eval's and listen's too
        args = _parser().parse_args(["ship", "--workdir", "w", "--name", "n", spelling, "d"])
        assert args.eval_data == "d"
    options = [o for a in _parser()._subparsers._group_actions[0].choices.values()
               for action in a._actions for o in action.option_strings]
    canonical = [o for o in options if o.startswith("--") and "_" in o and o not in
                 ("--init_from", "--num_slices")]
    assert canonical == [], canonical
