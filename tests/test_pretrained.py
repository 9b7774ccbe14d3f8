"""Named models: Codec.load by name, SSCODEC_MODELS, the CLI's default model, `sscodec ship`, and
the bundles shipped in sscodec/pretrained/ (if any)."""

import io
import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from sscodec import pretrained
from tests.conftest import ROOT, TINY, sscodec

SPEECH = os.path.join(ROOT, "data_pipelines", "embedded", "speech")
SHIPPED = sorted(name for name in os.listdir(pretrained.PACKAGE_DIR)
                 if pretrained.NAME_PATTERN.match(name)
                 and pretrained.is_bundle(os.path.join(pretrained.PACKAGE_DIR, name)))


def speech_second() -> tuple[np.ndarray, int]:
    audio, rate = sf.read(os.path.join(SPEECH, sorted(os.listdir(SPEECH))[0]), dtype="float32")
    return audio[:rate], rate


def install(bundle: str, folder, name: str) -> str:
    path = os.path.join(folder, name)
    shutil.copytree(bundle, path)
    return path


def test_load_by_name_env_first_and_unknown_names(trained_bundle, tmp_path, monkeypatch):
    from sscodec.codec import BundleError, Codec
    first, second = tmp_path / "first", tmp_path / "second"
    a = install(trained_bundle, first, "tiny_a")
    install(trained_bundle, second, "tiny_a")
    install(trained_bundle, second, "tiny_b")
    os.makedirs(second / "not_a_bundle")
    monkeypatch.setenv(pretrained.ENV_VAR, os.pathsep.join([str(first), str(second)]))
    models = pretrained.available()
    assert models["tiny_a"] == a and models["tiny_b"] == str(second / "tiny_b")  # first wins
    assert "not_a_bundle" not in models
    codec = Codec.load("tiny_a")
    assert codec.path == a and codec.bitrates == pytest.approx([0.45, 0.9, 1.35, 1.8])
    assert Codec.load(trained_bundle).path == os.path.abspath(trained_bundle)  # paths as before
    with pytest.raises(BundleError, match=r"no model named 'nope' \(available: .*tiny_a, "
                                          r"tiny_b.*SSCODEC_MODELS"):
        Codec.load("nope")
    with pytest.raises(BundleError, match="cannot load codec bundle"):
        Codec.load(str(tmp_path / "missing"))  # a path, not a name


def test_cli_uses_the_default_model_and_refuses_other_models(trained_bundle, tmp_path,
                                                             monkeypatch):
    audio, rate = speech_second()
    sf.write(tmp_path / "in.wav", audio, rate)
    models = tmp_path / "models"
    os.makedirs(models)
    monkeypatch.setenv(pretrained.ENV_VAR, str(models))
    if pretrained.DEFAULT_MODEL not in SHIPPED:  # not shipped yet: a clear error
        missing = sscodec("compress", str(tmp_path / "in.wav"), str(tmp_path / "x.ssc"),
                          check=False)
        assert missing.returncode == 2
        assert b"default model 'speech_cpu_24khz' is not installed" in missing.stderr
        assert b"--model" in missing.stderr
    install(trained_bundle, models, pretrained.DEFAULT_MODEL)
    sscodec("compress", str(tmp_path / "in.wav"), str(tmp_path / "x.ssc"), "--kbps", "0.9")
    wav = sscodec("decompress", str(tmp_path / "x.ssc"), "-").stdout
    out, out_rate = sf.read(io.BytesIO(wav))
    assert out_rate == rate and len(out) == len(audio)
    # A stream of another model is refused, naming the installed model that wrote it.
    other = install(trained_bundle, models, "other")
    with open(os.path.join(other, "config.json"), "a") as f:  # another model: other content
        f.write("\n")
    manifest = json.load(open(os.path.join(other, "manifest.json")))
    from sscodec.codec.bundle_checks import content_hash
    manifest["sha256"] = content_hash(other, bool(manifest.get("entropy_tables")))
    json.dump(manifest, open(os.path.join(other, "manifest.json"), "w"))
    refused = sscodec("decompress", str(tmp_path / "x.ssc"), "-", "--model", "other", check=False)
    assert refused.returncode == 2 and not refused.stdout
    assert b"written by another model" in refused.stderr
    assert b"the installed model 'speech_cpu_24khz' wrote it" in refused.stderr


@pytest.mark.slow
def test_ship_end_to_end(trained_bundle, tmp_path, monkeypatch):
    from sscodec.codec import Codec
    run = os.path.join(os.path.dirname(trained_bundle), "run")
    out = tmp_path / "models"
    args = ["ship", "--workdir", run, "--name", "tiny_shipped", "--eval-data", "embedded",
            "--out", str(out), "--config", TINY, "--kbps", "0.9,1.8", "--per-category", "2",
            "--clip-seconds", "1", "--metrics", "mel_distance,si_sdr", "--no-speed",
            "--entropy-seconds", "5", "--params-dtype", "float16"]
    result = sscodec(*args)
    assert b"tiny_shipped, step 2" in result.stdout and b"float16 - float32 at 1.8 kbps" \
        in result.stdout
    bundle = out / "tiny_shipped"
    assert {"MODEL_CARD.md", "eval.json", "PROVENANCE.md", "params.safetensors",
            "manifest.json", "entropy.safetensors"} <= set(os.listdir(bundle))
    assert [p for p in os.listdir(out) if p.startswith(".")] == []  # no staging left
    manifest = json.load(open(bundle / "manifest.json"))
    assert manifest["name"] == "tiny_shipped" and manifest["params_dtype"] == "float16"
    assert manifest["format_version"] == 3
    assert (bundle / "PROVENANCE.md").read_text() == open(
        os.path.join(ROOT, "data_pipelines", "embedded", "PROVENANCE.md")).read()
    evaluation = json.load(open(bundle / "eval.json"))
    systems = {(r["system"], r["kbps"]) for r in evaluation["rows"]}
    assert systems == {("tiny_shipped", 0.9), ("tiny_shipped", 1.8), ("Opus", 6.0),
                       ("Opus", 9.0), ("Opus", 12.0), ("codec2", 3.2)}
    assert {r["category"] for r in evaluation["rows"]} == {"clean_speech"}
    assert evaluation["model"]["bundle"] == "tiny_shipped"
    for row in evaluation["float16_effect"]:  # float16 storage barely moves the output
        mel = row["mel_distance"]
        assert abs(mel["difference"]) < 0.05 * mel["float32"] + 1e-3
    card = (bundle / "MODEL_CARD.md").read_text()
    for text in ("# tiny_shipped", "## Training", "## Data", "## Evaluation", "codec2", "Opus",
                 "`--config.num_steps=2`", "`--config.train.sample_every=0`", "2 steps",
                 "audio-seconds seen", "## Limitations", "**float16 storage.**",
                 "0.45, 0.9, 1.35, 1.8 kbps", "Embedded audio corpus: provenance and licences",
                 "kHz mono audio", "stereo is mixed down"):
        assert text in card, text
    # By name, from the SSCODEC_MODELS folder it was shipped to; float16 params run as float32.
    monkeypatch.setenv(pretrained.ENV_VAR, str(out))
    codec = Codec.load("tiny_shipped")
    assert codec.name == "tiny_shipped" and codec._weights["params"]["encoder"] is not None
    audio, rate = speech_second()
    decoded = codec.decode(codec.encode(audio, rate, kbps=1.8))
    assert decoded.dtype == np.float32 and np.isfinite(decoded).all()
    again = sscodec(*args, check=False)  # no silent replacement
    assert again.returncode == 2 and b"--force" in again.stderr
    # Replacing it compares the two on the same clips: the same run again differs by nothing.
    replaced = sscodec(*args, "--force", "--baselines", "none", "--no-float32-check")
    assert b"new - replaced (" + manifest["sha256"][:12].encode() + b") at 1.8 kbps: " \
        b"mel_distance +0.0000 \xc2\xb1 0.0000" in replaced.stdout
    evaluation = json.load(open(bundle / "eval.json"))
    assert evaluation["replaces"]["sha256"] == manifest["sha256"]
    assert [row["kbps"] for row in evaluation["replaces"]["rows"]] == [0.9, 1.8]
    for row in evaluation["replaces"]["rows"]:
        assert row["clips"] == 2 and row["si_sdr"]["difference"] == 0.0
    assert "**Against the model it replaces** (`" + manifest["sha256"][:12] in \
        (bundle / "MODEL_CARD.md").read_text()


@pytest.mark.skipif(not SHIPPED, reason="no model shipped in sscodec/pretrained/ yet")
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_round_trips_every_bitrate(name, monkeypatch):
    from sscodec.codec import Codec
    from sscodec.codec.codec_io import decode_from_stream, encode_to_stream
    monkeypatch.delenv(pretrained.ENV_VAR, raising=False)
    path = os.path.join(pretrained.PACKAGE_DIR, name)
    assert {"MODEL_CARD.md", "eval.json", "PROVENANCE.md"} <= set(os.listdir(path))
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    assert size <= 10.5e6, f"{name} is {size / 1e6:.2f} MB"
    codec = Codec.load(name)
    assert codec.path == path and codec.name == name
    audio, rate = speech_second()
    level = np.sqrt(np.mean(audio ** 2))
    for kbps in codec.bitrates:
        header, data = encode_to_stream(codec, audio, rate, kbps)
        assert header.num_quantizers == codec.num_quantizers_for(kbps)
        _, decoded = decode_from_stream(codec, data)
        assert len(decoded) >= len(audio) * codec.sample_rate // rate
        assert np.isfinite(decoded).all()
        assert 0.1 * level < np.sqrt(np.mean(decoded ** 2)) < 10 * level, kbps


def test_replacement_effect_pairs_clips_and_refuses_other_clips():
    from sscodec.evaluation.model_card import replacement_effect

    def evaluation(name, scores, **settings):
        rows = [{"system": name, "category": "clean_speech", "kbps": 3.0, "clip": f"c{i}",
                 "pesq": s} for i, s in enumerate(scores)]
        rows.append({"system": "Opus", "category": "clean_speech", "kbps": 6.0, "clip": "c0",
                     "pesq": 4.0})  # baselines are not the model
        return {"model": {"name": name, "sha256": name * 8, "step": 5},
                "settings": {"data": "d", "noise": "", "clip_seconds": 4.0, "per_category": 3,
                             "seed": 0, "metrics": ["pesq"], **settings}, "rows": rows}
    new = evaluation("new", [1.5, 1.7, 1.9])
    effect = replacement_effect(new, evaluation("old", [1.4, 1.5, 1.6, 9.9]), ["pesq", "stoi"])
    assert effect["sha256"] == "old" * 8 and effect["metrics"] == ["pesq"]
    [row] = effect["rows"]
    assert row["kbps"] == 3.0 and row["clips"] == 3  # c3 was scored by the old model only
    assert row["pesq"]["difference"] == pytest.approx(0.2)
    assert row["pesq"]["new"] == pytest.approx(1.7) and row["pesq"]["old"] == pytest.approx(1.5)
    other = replacement_effect(new, evaluation("old", [1.4], seed=1, clip_seconds=2.0), ["pesq"])
    assert "rows" not in other and other["reason"] == "evaluated on other clips (clip_seconds 2.0)"
    assert replacement_effect(new, {}, ["pesq"]) is None
