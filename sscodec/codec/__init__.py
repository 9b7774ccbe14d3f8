"""Everything a user of a trained model needs, and nothing of training: loading a bundle and
running it (`Codec`), streaming, the `.ssc` bitstream and its entropy coding, and writing bundles.
It imports sscodec.nn, sscodec.config, sscodec.platforms and sscodec.pretrained only
(tests/test_layers.py)."""

from sscodec.codec.bundle_checks import BundleError
from sscodec.codec.codec import Codec

__all__ = ["BundleError", "Codec"]
