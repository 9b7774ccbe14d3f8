"""Training: the state and its sharded init, the jitted train step, the loop with validation,
sample writing and checkpoints, the device mesh, the multi-host runtime, ahead-of-time compiles
for other topologies, and turning a run's checkpoint into an inference bundle (export.py)."""
