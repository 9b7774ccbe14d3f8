"""The model: pure Flax modules and losses (encoder, RVQ, decoder, discriminators, spectral
features). Functions of parameters and arrays only: no file, data or training-loop imports
(tests/test_layers.py)."""
