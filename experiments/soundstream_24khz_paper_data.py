"""The paper's scalable model on the paper's data: LibriTTS speech, MagnaTagATune music and
noisy LibriTTS (Freesound noise) for the denoising mode, mixed by weight.

The paper does not give the mixing ratios (see ../shared/reference/soundstream-paper.md); the
weights below give speech twice the share of music. Prepare the corpora once (array_record files
under --data-dir; downloads from openslr.org and mirg.city.ac.uk unless --manual-dir holds them):
  sscodec data prepare libritts/all --data-dir ~/tensorflow_datasets
  sscodec data prepare magnatagatune --data-dir ~/tensorflow_datasets
  sscodec data index /data/freesound_noise --out /data/freesound_noise/manifest.jsonl

Run (every host runs the same command; each loads batch_size / hosts examples a step):
  sscodec train --config experiments/soundstream_24khz_paper_data.py --workdir runs/paper_data \
    --config.data.noise=/data/freesound_noise/manifest.jsonl
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "soundstream_24khz.py")
    config.model.film = "encoder"
    config.data.train = [
        dict(spec="tfds:libritts/all:train", weight=2.0, kind="speech"),
        dict(spec="tfds:magnatagatune:train", weight=1.0, kind="music"),
    ]
    config.data.crop_frames = 225  # the paper's 3 s crops for the noisy-speech pairs
    config.data.noise = ""  # set to a Freesound noise folder or manifest (see above)
    return config
