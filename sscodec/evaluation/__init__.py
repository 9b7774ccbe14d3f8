"""Evaluation: the held-out eval set, metrics, baselines (codec2, Opus, EnCodec), eval tables,
paper sweeps and their reports, listening pages, and shipping a trained model with its card."""
