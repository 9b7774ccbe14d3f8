"""The paper's recipe where our default deviates from it (or fills a gap differently).

Same model as soundstream_24khz.py; every recipe choice set back to the paper's, or where the
paper is silent, to what sscodec did before the recipe was fixed (issue 12):
- convs: lecun_normal init, no weight norm (paper: "no normalization"; init unstated);
- discriminators: no weight norm (unstated);
- reconstruction loss: L1 summed over mel bins (the paper's ||.||_1) and an absolute log
  epsilon of 1e-5 (unstated);
- losses combined with the paper's fixed lambdas (1, 100, 1), no balancer;
- dead codes: EMA usage below 2, whatever the batch.

Run:
  sscodec train --config experiments/soundstream_24khz_paper_recipe.py --workdir runs/paper_recipe
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "soundstream_24khz.py")
    config.model.conv_init = "lecun"
    config.model.weight_norm = False
    config.discriminator.conv_init = "lecun"
    config.discriminator.weight_norm = False
    config.loss.mel_l1 = "sum"
    config.loss.log_floor = "absolute"
    config.loss.log_epsilon = 1e-5
    config.loss.balancer = False
    config.quantizer.dead_code_usage_fraction = 0.0
    return config
