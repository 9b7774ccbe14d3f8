"""Dataset recipes: build a ready-to-train audio folder (FLAC, manifests, provenance) from a source.

  asterisk    real recorded speech (5 speakers/languages) and music from Debian's Asterisk packages
"""
