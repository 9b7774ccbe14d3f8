"""Configuration: the default schema, loading experiment files, overrides, validation, bitrates.

Every experiment file in `experiments/` starts from `default_config()` (a locked ml_collections
ConfigDict holding every known key, set to the paper's 24 kHz model) and changes a few fields, so a
typo in a config file or a `--config.KEY=VALUE` override fails at once and names the key.

schema.py holds the keys and their defaults, loading.py reads files and overrides, checks.py
validates, rates.py derives frame and bitrate figures. Import from here: `from sscodec.config
import load_config`.
"""

from sscodec.config.checks import MIXTURE_KEYS, SPEC_FORMS, mixture, validate
from sscodec.config.loading import (apply_overrides, config_from_dict, dotted_items, load_config,
                                    load_sibling)
from sscodec.config.rates import (audio_shape, bitrate_table, bits_per_code, discriminator_window,
                                  frame_rate, init_length, kbps_for_num_quantizers,
                                  num_quantizers_for_kbps, samples_per_frame)
from sscodec.config.schema import (INIT_FROM_WEIGHTS, MAX_AUDIO_CHANNELS, NO_GAN, ConfigDict,
                                   ConfigError, default_config)

__all__ = [
    "INIT_FROM_WEIGHTS", "MAX_AUDIO_CHANNELS", "MIXTURE_KEYS", "NO_GAN", "SPEC_FORMS", "ConfigDict",
    "ConfigError", "apply_overrides", "audio_shape", "bitrate_table", "bits_per_code",
    "config_from_dict", "default_config", "discriminator_window", "dotted_items", "frame_rate",
    "init_length", "kbps_for_num_quantizers", "load_config", "load_sibling", "mixture",
    "num_quantizers_for_kbps", "samples_per_frame", "validate",
]
