"""Chaos: the tiny run SIGKILLed 3 times (at random and during asynchronous checkpoint writes)
ends bitwise equal to an uninterrupted run. The 20-kill version is
experiments/benchmarks/chaos.py."""

import os
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "experiments", "benchmarks"))


@pytest.mark.slow
def test_three_kills_lose_nothing(tmp_path):
    import chaos
    r = chaos.run(kills=3, steps=12, seed=1, root=str(tmp_path))
    assert r["kills"] == 3 and r["during_saves"] >= 1
    assert r["failed_restores"] == 0 and r["finished"]
    assert r["losses_equal"] and r["params_equal"]
    assert max(r["steps_lost"]) <= 4  # checkpoints every 2 steps, one step in flight
