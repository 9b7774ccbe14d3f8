"""sscodec: SoundStream (arXiv 2107.03312) in JAX/Flax: model, training, export and inference.

Public API: `load_config`, `train_and_evaluate`, `Codec` (loads an exported bundle).
"""

def load_config(spec, overrides=()):
    """Loads an experiment file (see sscodec.config.load_config)."""
    from sscodec.config import load_config as _load  # keeps `import sscodec` free of ml_collections
    return _load(spec, overrides)


def train_and_evaluate(config, workdir, **kwargs):
    """Trains (or resumes) the model described by `config` in `workdir`; see sscodec.train.loop."""
    from sscodec.train.loop import train_and_evaluate as _train  # keeps `import sscodec` light
    return _train(config, workdir, **kwargs)


def __getattr__(name):
    if name == "Codec":  # inference needs jax, numpy and safetensors only
        from sscodec.codec import Codec
        return Codec
    raise AttributeError(f"module 'sscodec' has no attribute {name!r}")


__all__ = ["Codec", "load_config", "train_and_evaluate"]
