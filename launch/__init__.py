"""Launchers: local N-process CPU runs, TPU VM pods, GKE/XPK and SLURM (see launch/README.md)."""
