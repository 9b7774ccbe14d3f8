"""Dataset recipes: build a ready-to-train audio folder (FLAC, manifests, provenance) from a source.

  asterisk    real recorded speech (5 speakers/languages) and music from Debian's Asterisk packages
  noise       real recorded background noise (rain, wind, fire, water, forest, engines, machinery,
              crowd) from five Debian game-data packages, for the denoising experiment

`common` holds what they share: Debian packages fetched without root, decoding, checks, FLAC.
"""
