"""The learning-rate schedule: a factor of the configured rates, applied in the step."""

import numpy as np
import pytest

from sscodec.config import ConfigError, load_config
from sscodec.train.schedule import lr_factor
from tests.conftest import TINY


def _factors(schedule: str, warmup: int, steps=(0, 4, 9, 10, 55, 100, 150)):
    config = load_config(TINY, [f"optim.lr_schedule={schedule}", f"optim.warmup_steps={warmup}",
                                  "optim.final_lr_fraction=0.1", "num_steps=100"])
    return [float(lr_factor(config, s)) for s in steps]


def test_constant_is_one_after_a_linear_warmup():
    assert _factors("constant", 0) == [1.0] * 7
    f = _factors("constant", 10)
    assert f[:3] == pytest.approx([0.1, 0.5, 1.0]) and f[3:] == [1.0] * 4


def test_cosine_falls_from_one_to_the_final_fraction_at_num_steps():
    f = _factors("cosine", 10)
    assert f[:4] == pytest.approx([0.1, 0.5, 1.0, 1.0])
    assert f[4] == pytest.approx(0.55, abs=1e-6)  # halfway through the decay
    assert f[5] == pytest.approx(0.1) and f[6] == pytest.approx(0.1)  # held after num_steps
    assert np.all(np.diff(_factors("cosine", 0, steps=range(0, 101, 5))) <= 0)


@pytest.mark.parametrize("override,key", [("optim.lr_schedule=step", "optim.lr_schedule"),
                                          ("optim.final_lr_fraction=2.0", "optim.final_lr_fraction"),
                                          ("optim.warmup_steps=-1", "optim.warmup_steps")])
def test_bad_schedule_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(TINY, [override])
