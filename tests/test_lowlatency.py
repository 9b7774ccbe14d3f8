"""The low-latency 16 kHz speech codec (experiments/speech_16khz_lowlatency.py, shipped as
speech_16khz_lowlatency): its geometry, its one-frame streaming, and the inference benchmark's
per-call figures."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from sscodec import pretrained
from sscodec.config import bits_per_code, load_config, samples_per_frame
from tests.conftest import ROOT

CONFIG = os.path.join(ROOT, "experiments", "speech_16khz_lowlatency.py")
NAME = "speech_16khz_lowlatency"
SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")


def test_ten_millisecond_frames_and_both_target_bitrates():
    config = load_config(CONFIG)
    assert config.sample_rate == 16000 and samples_per_frame(config) == 160  # 10 ms
    frame_rate = config.sample_rate / samples_per_frame(config)
    rates = [round(frame_rate * n * bits_per_code(config) / 1000, 6)
             for n in range(1, config.quantizer.num_quantizers + 1)]
    assert rates.index(3.2) == 7 and rates[-1] == 6.0  # 8 and 15 codebooks of 4 bits


@pytest.fixture(scope="module")
def lowlatency():
    from sscodec.codec import Codec
    return Codec.load(os.path.join(pretrained.PACKAGE_DIR, NAME))


def test_shipped_model_streams_one_frame_per_call_with_offline_codes(lowlatency):
    codec = lowlatency
    audio, rate = sf.read(os.path.join(SPEECH, sorted(os.listdir(SPEECH))[0]), dtype="float32")
    speech = codec._prepare(audio, rate)[: 2 * codec.sample_rate]
    m = codec.frame_size
    for kbps in (3.2, 6.0):
        offline = codec.encode(speech, codec.sample_rate, kbps)
        encoder, decoder = codec.stream_encoder(kbps), codec.stream_decoder()
        codes, out = [], []
        for i in range(0, len(speech), m):
            frame = encoder.push(speech[i: i + m])
            assert len(frame) == 1  # no lookahead: each frame's codes come with its last sample
            codes.append(frame)
            out.append(decoder.push(frame))
        np.testing.assert_array_equal(np.concatenate(codes), offline)
        np.testing.assert_allclose(np.concatenate(out), codec.decode(offline), rtol=0, atol=1e-5)


@pytest.mark.slow
def test_inference_benchmark_reports_per_call_latency_and_share_of_peak():
    script = os.path.join(ROOT, "experiments", "benchmarks", "inference.py")
    run = subprocess.run([sys.executable, script, "--configs", "tiny", "--seconds", "1",
                          "--repeats", "1", "--chunks", "1", "--no-peers", "--one-core",
                          "--no-frame-step", "--json"], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert run.returncode == 0, run.stderr[-2000:]
    row, general = (json.loads(line) for line in run.stdout.strip().splitlines()[-2:])
    assert row["cores"] == 1 and row["frame_ms"] == pytest.approx(1000 * 320 / 24000)
    assert 0 < row["stream1_p50_ms"] <= row["stream1_p99_ms"]
    assert row["stream1_x"] > 0 and 0 < row["stream1_gflops"] < row["peak_gflops"]
    assert row["stream1_weights_mib"] > 0 and 0 < row["stream1_floor_ms"] < row["stream1_p50_ms"]
    # the A/B row: the same model streamed through the general steps only
    assert general["name"].endswith("(no FrameStep)") and "stream1_gflops" not in general
    assert general["stream1_p99_ms"] > 0
    codec2 = subprocess.run([sys.executable, script, "--worker", "codec2", "--seconds", "1",
                             "--repeats", "1"], capture_output=True, text=True, timeout=120)
    assert codec2.returncode == 0, codec2.stderr[-2000:]
    row = json.loads(codec2.stdout.strip().splitlines()[-1])
    assert row["frame_ms"] == 20.0 and row["stream1_p99_ms"] > 0
