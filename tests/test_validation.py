"""Validation while training (train.eval_every): eval metrics in metrics.jsonl at the expected
steps, reconstructions as TensorBoard audio, config checks, and failing scores skipped."""

import glob
import math
import os
import shutil
import struct

import numpy as np
import pytest

from sscodec.config import ConfigError, load_config
from sscodec.train import loop, validation
from sscodec.train.loop import train_and_evaluate
from sscodec.train.reporting import read_metrics
from tests.conftest import TINY

# The tiny model: 75 Hz x 6 bits -> 0.45 kbps at n_q = 1 and 1.8 kbps at N_q = 4.
EXPECTED = {f"eval/{m}@{k}kbps" for m in ("mel", "visqol_speech", "pesq") for k in ("0.45", "1.8")}
RANGES = {"pesq": (1.0, 4.65), "visqol_speech": (1.0, 5.0), "mel": (0.0, math.inf)}


def quick_config(tiny_config, **train):
    config = tiny_config.copy_and_resolve_references()
    config.num_steps = 3
    config.train.log_every = 3
    config.train.checkpoint_every = 3
    config.train.sample_every = 0
    config.train.progress = False
    config.train.eval_every = 2
    config.train.eval_clips = 3
    config.train.eval_seconds = 2.0
    for key, value in train.items():
        config.train[key] = value
    return config


@pytest.fixture(scope="module")
def compile_once():
    """The runs of this module share one compiled train step (the eval settings do not change
    it): tracing the GAN step costs ~12 s on 2 cores even with the persistent cache."""
    compiled = []

    def compile_train_step(*args, **kwargs):
        if not compiled:
            compiled.append(real(*args, **kwargs))
        return compiled[0]

    real = loop.compile_train_step
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop, "compile_train_step", compile_train_step)
        yield


@pytest.fixture(scope="module")
def eval_run(tiny_config, tmp_path_factory, compile_once):
    """3 steps, eval every 2: an eval alone at step 2, and with the losses at the final step 3."""
    workdir = str(tmp_path_factory.mktemp("eval_run"))
    last = train_and_evaluate(quick_config(tiny_config), workdir)
    return workdir, last


@pytest.mark.slow
def test_eval_metrics_are_logged_at_eval_steps_and_in_range(eval_run):
    workdir, last = eval_run
    lines = read_metrics(workdir)
    assert [m["step"] for m in lines] == [2, 3]
    eval_only, final = lines
    assert "loss/generator" not in eval_only and "loss/generator" in final  # 2: not a log step
    for line in lines:
        assert EXPECTED <= set(line), sorted(line)
        assert line["perf/eval_seconds"] > 0 and line["eval/failed_scores"] >= 0
        for key in EXPECTED:
            low, high = RANGES[key.split("/")[1].split("@")[0]]
            assert math.isfinite(line[key]) and low <= line[key] <= high, (key, line[key])
    assert EXPECTED <= set(last)  # train_and_evaluate returns the final eval too


def _events(workdir):
    """Every (step, Summary.Value) in the run's TensorBoard event files (TFRecord framing)."""
    from tensorboardX.proto import event_pb2

    values = []
    for path in glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*")):
        data = open(path, "rb").read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            values += [(event.step, v) for v in event.summary.value]
    return values


@pytest.mark.slow
def test_tensorboard_gets_eval_scalars_and_audio(eval_run):
    workdir, _ = eval_run
    values = _events(workdir)
    audio = {(step, v.tag) for step, v in values if v.HasField("audio")}
    clips = {tag.split("/")[1] for _, tag in audio}
    assert len(clips) == 3
    for clip in clips:
        assert (2, f"eval_audio/{clip}/input") in audio  # the inputs once
        for step in (2, 3):
            for kbps in ("0.45", "1.8"):
                assert (step, f"eval_audio/{clip}/{kbps}kbps") in audio
    sample = next(v.audio for _, v in values if v.HasField("audio"))
    assert sample.sample_rate == 24000 and sample.length_frames == 2 * 24000
    scalars = {(step, v.tag) for step, v in values if not v.HasField("audio")}
    assert {(2, "eval/pesq_1.8kbps"), (3, "eval/visqol_speech_0.45kbps")} <= scalars


def test_bad_eval_settings_are_config_errors_naming_the_key():
    with pytest.raises(ConfigError, match="pesqq") as error:
        load_config(TINY, ["train.eval_metrics=('mel', 'pesqq')"])
    assert error.value.key == "train.eval_metrics"
    for override, key in (("train.eval_every=-1", "train.eval_every"),
                          ("train.eval_clips=0", "train.eval_clips"),
                          ("train.eval_metrics=()", "train.eval_metrics")):
        with pytest.raises(ConfigError) as error:
            load_config(TINY, [override])
        assert error.value.key == key and str(error.value).startswith(f"config.{key}:")
    everything = load_config(TINY, [f"train.eval_metrics={validation.METRICS!r}"])
    assert everything.train.eval_metrics == validation.METRICS  # config and module agree


@pytest.mark.slow
def test_eval_every_zero_disables_eval(eval_run, tiny_config, tmp_path, monkeypatch):
    """Resumed from the eval run's step 3 to step 4 (a final step) with eval_every=0."""
    workdir = str(tmp_path / "run")
    shutil.copytree(eval_run[0], workdir)

    def fail(*args, **kwargs):
        raise AssertionError("eval ran although train.eval_every=0")

    monkeypatch.setattr(validation.Validator, "from_config", fail)
    monkeypatch.setattr(validation, "run_eval", fail)
    config = quick_config(tiny_config, eval_every=0)
    config.num_steps = 4
    train_and_evaluate(config, workdir)
    lines = read_metrics(workdir)
    assert [m["step"] for m in lines] == [2, 3, 4]
    assert not any(k.startswith("eval/") or k == "perf/eval_seconds" for k in lines[-1])
    assert not validation.due(config, 4)


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply:RuntimeWarning")
def test_failing_scores_are_skipped_and_counted(tiny_config, monkeypatch):
    """A silent decode makes PESQ raise and ViSQOL give NaN; PESQ's "no utterances" gives None.
    Each such score is left out of its average and counted; nothing raises."""
    config = quick_config(tiny_config)
    clips = validation.select_clips("embedded", 2, 1.0, config.sample_rate, 320, seed=0)
    assert all(c.speech for c in clips) and all(len(c.audio) == 24000 for c in clips)
    validator = validation.Validator(config, None, clips)
    good, other = clips[0].audio, clips[1].audio
    noise = 0.01 * np.random.default_rng(0).standard_normal(len(good)).astype(np.float32)
    outputs = np.stack([good + noise, np.zeros_like(other)])  # clip 1 decodes to silence
    results = validator.score({1: outputs, 4: outputs}, step=7)
    assert results["eval/failed_scores"] == 4  # pesq and visqol_speech on clip 1, both bitrates
    assert validator.failures == {"eval/pesq@0.45kbps": 1, "eval/pesq@1.8kbps": 1,
                                  "eval/visqol_speech@0.45kbps": 1,
                                  "eval/visqol_speech@1.8kbps": 1}
    assert results["eval/pesq@0.45kbps"] == pytest.approx(  # the average of clip 0 alone
        validation.metrics.pesq_wb(good, outputs[0], config.sample_rate))
    assert results["eval/pesq@0.45kbps"] > 1.5  # the noisy copy scores well
    assert all(math.isfinite(results[f"eval/mel@{k}kbps"]) for k in ("0.45", "1.8"))

    # PESQ's "no utterances detected" (None) on every clip: the metric is left out, not NaN.
    monkeypatch.setattr(validation.metrics, "pesq_wb", lambda ref, est, rate: None)
    results = validator.score({1: outputs, 4: outputs})
    assert not any(k.startswith("eval/pesq") for k in results)
    assert results["eval/failed_scores"] == 6
