"""A training run's checkpoint as an inference bundle: `load_run` reads the generator weights
(the moving average when the run kept one) and counts codes for the entropy tables;
`export_bundle` writes them with sscodec.codec.export.write_bundle."""

from __future__ import annotations

import json
import os

import jax
import numpy as np

from sscodec.codec.export import inference_config, write_bundle
from sscodec.config import config_from_dict
from sscodec.train.checkpoint import Checkpointer, locate
from sscodec.train.state import abstract_state, build_models, eval_params_key


def export_bundle(workdir: str, out: str, step: int | None = None,
                  entropy_data: str | None = "", entropy_seconds: float = 120.0,
                  params_dtype: str = "float32") -> dict:
    """Writes the bundle of `workdir`'s checkpoint `step` (default: latest) to `out`.

    Entropy tables are estimated from `entropy_seconds` of `entropy_data` (a data spec; "" means
    the run's training data, None skips the tables). `params_dtype` as in `write_bundle`.
    """
    config, weights, saved_step, counts = load_run(workdir, step, entropy_data, entropy_seconds)
    return write_bundle(config, weights, out, saved_step, counts, params_dtype)


def load_run(workdir: str, step: int | None = None, entropy_data: str | None = "",
             entropy_seconds: float = 120.0):
    """What a bundle of `workdir`'s checkpoint `step` (default: latest) is made of:
    (inference config, generator weights {"params", "quantizer"} as numpy, the step, the code
    counts for entropy tables or None); `entropy_data` and `entropy_seconds` as in
    `export_bundle`. Feed them to `write_bundle`."""
    if not os.path.isfile(os.path.join(workdir, "config.json")):
        raise FileNotFoundError(f"{workdir} is not a training run (no config.json or checkpoint "
                                "there)")
    with open(os.path.join(workdir, "config.json")) as f:
        config = config_from_dict(json.load(f))
    config = inference_config(config)
    models = build_models(config)
    abstract = abstract_state(models, config)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    weights_key = eval_params_key(abstract)  # the moving average when the run kept one
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                          {weights_key: abstract[weights_key], "quantizer": abstract["quantizer"]})
    directory, located = locate(workdir)
    source = Checkpointer(directory, read_only=True)
    try:
        weights = source.restore_weights(target, step if step is not None else located)
        saved_step = step if step is not None else (located or source.latest_step())
    finally:
        source.close()
    weights = {"params": weights[weights_key], "quantizer": weights["quantizer"]}
    weights = jax.tree.map(np.asarray, weights)  # parameters are float32 whatever compute_dtype
    counts = None
    if entropy_data is not None:
        from sscodec.train.code_statistics import count_training_codes
        counts = count_training_codes(config, models.generator, weights,
                                      entropy_data or None, entropy_seconds)
    return config, weights, saved_step, counts
