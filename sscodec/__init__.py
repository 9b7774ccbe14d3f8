"""sscodec: SoundStream (arXiv 2107.03312) in JAX/Flax: model, training, and bitrate bookkeeping.

Public API: `load_config`, `train_and_evaluate`.
"""

from sscodec.config import load_config


def train_and_evaluate(config, workdir):
    """Trains (or resumes) the model described by `config` in `workdir`; see sscodec.train.loop."""
    from sscodec.train.loop import train_and_evaluate as _train  # keeps `import sscodec` light
    return _train(config, workdir)


__all__ = ["load_config", "train_and_evaluate"]
