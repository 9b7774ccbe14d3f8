"""Measuring quality, shared by training's validation and by evaluation: the held-out eval set
(eval_data.py) and the audio quality metrics (metrics.py: ViSQOL, PESQ, STOI, SI-SDR, mel)."""
