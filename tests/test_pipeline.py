"""The Grain pipeline: determinism, exact resume from Orbax, host sharding, mixtures, noisy pairs."""

import collections
import os

import grain
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from data_pipelines import pipeline
from data_pipelines.audio_io import EMBEDDED_DIR, read_audio
from data_pipelines.sources import open_source
from data_pipelines.transforms import ExampleMaker, peak
from sscodec.train.checkpoint import Checkpointer
from sscodec.config import default_config


def small_config(**data):
    config = default_config()
    config.num_steps, config.seed = 12, 3
    config.data.crop_frames, config.data.batch_size = 10, 4
    for key, value in data.items():
        config.data[key] = value
    return config


def test_same_seed_same_batches_other_seed_other_batches():
    a = pipeline.make_training_data(small_config()).dataset
    b = pipeline.make_training_data(small_config()).dataset
    for s in (0, 5, 11):
        np.testing.assert_array_equal(a[s]["input"], b[s]["input"])
    other = small_config()
    other.seed = 4
    assert not np.array_equal(a[0]["input"], pipeline.make_training_data(other).dataset[0]["input"])
    assert len(a) == 12 and a[0]["input"].shape == (4, 3200)


@pytest.mark.parametrize("workers", [0, 1])
def test_resume_from_an_orbax_checkpoint_gives_the_uninterrupted_batches(tmp_path, workers):
    data = pipeline.make_training_data(small_config(noise="embedded"))
    it = pipeline.make_iterator(data.dataset, worker_count=workers)
    for _ in range(4):
        next(it)
    checkpointer = Checkpointer(str(tmp_path), keep=2)
    checkpointer.save(4, {"w": jnp.zeros(3)}, {"step": 4}, data=pipeline.IteratorSnapshot(it))
    expected = [next(it) for _ in range(3)]  # the live iterator moves on during the async save
    checkpointer.wait()
    pipeline.close_iterator(it)
    resumed = pipeline.make_iterator(data.dataset, worker_count=workers)
    assert checkpointer.restore_data(resumed, 4)
    for want, got in zip(expected, [next(resumed) for _ in range(3)]):
        for key in want:
            np.testing.assert_array_equal(np.asarray(want[key]), np.asarray(got[key]))
    np.testing.assert_array_equal(np.asarray(expected[0]["input"]), data.dataset[4]["input"])
    pipeline.close_iterator(resumed)
    checkpointer.close()


def test_host_shards_are_disjoint_and_together_the_global_batch():
    """P simulated processes: each loads batch/P examples a step; the union is the 1-process batch."""
    config = small_config(noise="embedded")
    config.data.batch_size = 8
    whole = pipeline.make_training_data(config, shard=grain.sharding.ShardOptions(0, 1)).dataset
    for count in (2, 4):
        shards = [pipeline.make_training_data(config, shard=grain.sharding.ShardOptions(i, count))
                  for i in range(count)]
        assert all(s.local_batch == 8 // count for s in shards)
        for step in (0, 7):
            rows = np.concatenate([s.dataset[step]["input"] for s in shards])
            as_set = lambda x: sorted(r.tobytes() for r in x)  # noqa: E731
            assert len(set(as_set(rows))) == 8  # disjoint
            assert as_set(rows) == as_set(whole[step]["input"])  # complete
            # Process p holds examples p, p + P, ... of the global batch.
            np.testing.assert_array_equal(shards[1].dataset[step]["input"],
                                          whole[step]["input"][1::count])
    with pytest.raises(ValueError, match="divisible"):
        pipeline.make_training_data(config, shard=grain.sharding.ShardOptions(0, 3))


def test_mixture_weights_hold_within_tolerance():
    config = small_config()
    config.num_steps = 100
    config.data.train = [dict(spec="embedded", kinds=("speech",), weight=3.0),
                         dict(spec="embedded", kinds=("music",), weight=1.0)]
    data = pipeline.make_training_data(config)
    assert [s.kind(0) for s in data.sources] == ["speech", "music"]
    sequence = pipeline.example_sequence([len(s) for s in data.sources], data.weights, 0)[:400]
    counts = collections.Counter(source_id for source_id, _ in sequence)
    assert abs(counts[0] / 400 - 0.75) < 0.02
    # A longer run continues the same sequence of batches.
    longer = small_config()
    longer.num_steps, longer.data.train = 300, config.data.train
    np.testing.assert_array_equal(pipeline.make_training_data(longer).dataset[99]["input"],
                                  data.dataset[99]["input"])
    # Within a source every item comes once per epoch (no repeats before the epoch is done).
    items = [i for k, i in sequence if k == 1][: len(data.sources[1])]
    assert sorted(items) == list(range(len(data.sources[1])))


def test_denoising_pairs_follow_the_paper_rules():
    speech = open_source("embedded", kinds=("speech",))
    music = open_source("embedded", kinds=("music",))
    noise = open_source("embedded", kinds=("noise",))
    maker = ExampleMaker([speech, music], 4800, 24000, noise, noisy_prob=0.5, denoise_prob=0.5)
    seen = collections.Counter()
    for g in range(120):
        source_id = g % 2
        ex = maker((source_id, g % 7), np.random.default_rng(g))
        x, y, flag = ex["input"], ex["target"], int(ex["denoise"])
        noisy = not np.array_equal(x, y)
        seen[(source_id, flag, noisy)] += 1
        if noisy:  # only speech with denoise = 1 gets the clean target
            assert source_id == 0 and flag == 1
            # Noise gain relative to the clean peak stays within -30..0 dB.
            ratio_db = 20 * np.log10(peak(x - y) / peak(y))
            assert -30.5 <= ratio_db <= 0.5
        assert -12.1 <= 20 * np.log10(peak(x)) <= -0.9
    assert seen[(0, 1, True)] > 5 and seen[(0, 1, False)] > 0  # noisy and clean inputs, flag on
    assert seen[(0, 0, False)] > 5 and seen[(1, 1, False)] > 5  # flag off / music: target = input
    assert sum(n for (s, _, noisy), n in seen.items() if s == 1 and noisy) == 0
    # Without a noise corpus the flag stays 0.
    plain = ExampleMaker([speech], 4800, 24000)
    assert all(int(plain((0, i), np.random.default_rng(i))["denoise"]) == 0 for i in range(10))


def test_noise_shorter_than_the_crop_is_looped_not_padded(tmp_path):
    """A noise recording shorter than the training crop is repeated to fill it, as the
    evaluation's noisy speech loops its noise: no crop ends in silence."""
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "hum.wav", (0.3 * rng.standard_normal(2400)).astype(np.float32), 24000)
    noise = open_source(str(tmp_path), kind="noise")
    speech = open_source("embedded", kinds=("speech",))
    maker = ExampleMaker([speech], 9600, 24000, noise, noisy_prob=1.0, denoise_prob=1.0)
    ex = maker((0, 1), np.random.default_rng(3))
    added = ex["input"] - ex["target"]  # the noise alone, scaled
    assert added.shape == (9600,)
    for quarter in np.split(added, 4):  # 0.1 s of noise fills all four 0.1 s quarters
        assert np.sqrt(np.mean(quarter ** 2)) > 0.1 * np.sqrt(np.mean(added ** 2))
    np.testing.assert_allclose(added[:2400], added[2400:4800], rtol=1e-4, atol=1e-6)


def test_worker_count_default_follows_the_cpu_count(monkeypatch):
    assert pipeline.resolve_worker_count(3) == 3
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert pipeline.resolve_worker_count(-1) == 0
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert pipeline.resolve_worker_count(-1) == 7


def test_a_prepared_tfds_dataset_feeds_the_pipeline(tmp_path):
    from data_pipelines.tfds_builders import prepare
    corpus = tmp_path / "corpus" / "train"
    os.makedirs(corpus)
    speech = os.path.join(EMBEDDED_DIR, "speech")
    for name in sorted(os.listdir(speech))[:3]:
        x = read_audio(os.path.join(speech, name), 16000)  # stored at 16 kHz: read resamples
        sf.write(corpus / f"{name}.wav", x, 16000)
    assert prepare("audio_folder", str(tmp_path / "tfds"), str(tmp_path / "corpus")) == {"train": 3}
    config = small_config(train="tfds:audio_folder:train", data_dir=str(tmp_path / "tfds"),
                          noise="embedded")
    data = pipeline.make_training_data(config)
    assert len(data.sources[0]) == 3 and data.sources[0].item_name(0) == "audio_folder_0"
    batch = data.dataset[2]
    assert batch["input"].shape == (4, 3200) and np.isfinite(batch["input"]).all()
    np.testing.assert_array_equal(batch["input"], pipeline.make_training_data(config).dataset[2]["input"])
    clip = data.sources[0].clip(0, 0.5, 24000)
    assert clip.dtype == np.float32 and len(clip) == 12000
    with pytest.raises(FileNotFoundError, match="sscodec data prepare"):
        pipeline.make_training_data(small_config(train="tfds:audio_folder:test",
                                                 data_dir=str(tmp_path / "tfds")))
