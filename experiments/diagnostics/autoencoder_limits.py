"""Is a model limited by its bits, its training speakers, or its autoencoder? Three rows per set.

For a training run's checkpoint, on a few speech files of its training data and of the held-out
data, this prints ViSQOL speech and PESQ-WB of:
- "unquantized": the decoder fed the encoder's output directly (no RVQ: the autoencoder's ceiling);
- "n_q=2" and "n_q=N_q": the lowest useful and the full bitrate.
If "unquantized" scores like "n_q=N_q", the quantizer costs nothing at the full rate and more bits
cannot help; if the training set scores like the held-out set, the speakers are not the limit.

Run (about 2 minutes on 2 cores for 9 files per set):
  python experiments/diagnostics/autoencoder_limits.py --workdir runs/speech_cpu --step 5000 \\
      --train data/asterisk/train --eval data/asterisk/eval
"""

from __future__ import annotations

import argparse
import glob
import os

import jax
import jax.numpy as jnp
import numpy as np
import soundfile as sf

from data_pipelines.audio_io import read_audio, resample
from sscodec.config import samples_per_frame
from sscodec.train.export import load_run
from sscodec.quality.metrics import Visqol, pesq_wb
from sscodec.nn.soundstream import SoundStream, build_generator


def speech_files(folder: str, count: int, min_s: float = 2.0, max_s: float = 8.0) -> list[str]:
    """`count` speech files of `folder` (speech/<speaker or language>/), evenly spread over the
    sorted list, each min_s to max_s long."""
    found = sorted(glob.glob(os.path.join(folder, "speech", "*", "*.*")))
    found = [f for f in found if f.endswith((".flac", ".wav", ".ogg"))
             and min_s < sf.info(f).duration < max_s]
    if not found:
        raise SystemExit(f"no speech files of {min_s}-{max_s} s under {folder}/speech")
    return found[::max(1, len(found) // count)][:count]


def limits(workdir: str, step: int | None, sets: dict[str, str], count: int) -> dict:
    """{set: {row: (ViSQOL, PESQ) means}} for the rows the module docstring names."""
    config, weights, _, _ = load_run(workdir, step, entropy_data=None)
    model = build_generator(config)
    variables = jax.tree.map(jnp.asarray, {"params": weights["params"],
                                           "quantizer": weights["quantizer"]})
    num_q = config.quantizer.num_quantizers
    embed = jax.jit(lambda a: model.apply(variables, a, method=SoundStream.embed))
    synthesize = jax.jit(lambda e: model.apply(variables, e, method=SoundStream.synthesize))
    code = jax.jit(lambda a, n: model.apply(variables, model.apply(
        variables, a, n, method=SoundStream.encode), method=SoundStream.decode), static_argnums=1)
    visqol, rate, hop = Visqol(), config.sample_rate, samples_per_frame(config)
    table = {}
    for name, folder in sets.items():
        rows: dict[str, list] = {}
        for path in speech_files(folder, count):
            x = read_audio(path, rate)
            x = x[: len(x) // hop * hop]
            audio = jnp.asarray(x)[None]
            outputs = {"unquantized": synthesize(embed(audio)), "n_q=2": code(audio, 2),
                       f"n_q={num_q}": code(audio, num_q)}
            ref16 = resample(x, rate, 16000)
            for row, y in outputs.items():
                est16 = resample(np.asarray(y).reshape(-1)[: len(x)], rate, 16000)
                rows.setdefault(row, []).append(
                    (visqol.speech(ref16, est16, 16000), pesq_wb(ref16, est16, 16000)))
        table[name] = {row: tuple(np.mean(np.asarray(v, float), axis=0)) for row, v in rows.items()}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="training run folder")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    parser.add_argument("--train", default="data/asterisk/train", help="training data folder")
    parser.add_argument("--eval", default="data/asterisk/eval", help="held-out data folder")
    parser.add_argument("--files", type=int, default=9, help="speech files per set")
    args = parser.parse_args()
    table = limits(args.workdir, args.step, {"train": args.train, "held-out": args.eval}, args.files)
    print(f"{'set':10s} {'row':12s} {'ViSQOL':>7s} {'PESQ':>6s}")
    for name, rows in table.items():
        for row, (v, p) in rows.items():
            print(f"{name:10s} {row:12s} {v:7.2f} {p:6.2f}")


if __name__ == "__main__":
    main()
