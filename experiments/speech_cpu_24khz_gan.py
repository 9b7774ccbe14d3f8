"""Stage 2 of the CPU speech codec: a gentle GAN phase on top of speech_cpu_24khz's 5,000
reconstruction-only steps.

The same model, data and discriminators (the paper's STFT + 3-scale wave pair, narrow). What
makes the GAN help here rather than hurt (all ours; the paper trains the GAN from step 0):
- the discriminators first train alone for 200 steps (`loss.adversarial_warmup_steps`), so their
  first gradients to the generator come from discriminators that already tell real from fake;
- small GAN shares of the balancer (reconstruction 0.8, adversarial 0.1, feature matching 0.1);
- the generator's rate held at stage 1's final rate (5e-5, constant).
Measured on the shipped step-5,000 model (held-out in-training validation, 8 clips, 6 kbps
mel / PESQ / ViSQOL): without these (shares 0.5 / 0.25 / 0.25, rate 1e-4, no warm-up) 100 GAN
steps went from 1,230 / 1.72 / 1.53 to 1,480 / 1.38 / 1.30. With them nothing collapsed, but
1,300 GAN steps did not help either: 1,250 / 1.70 / 1.57 at 5,400, 1,270 / 1.70 / 1.62 at 6,000,
1,290 / 1.66 / 1.55 at 6,500; on the 12 ship clips, paired against step 5,000, PESQ -0.04 /
-0.05 / -0.06 (± 0.03-0.04) and ViSQOL -0.07 / -0.02 / +0.00 (± 0.17-0.18) at 1.5 / 3 / 6 kbps.
The discriminators kept winning (hinge loss 0.5-1.2 of 2, generator hinge 2.5-3.7). That run
froze the generator during the warm-up (generator_lr 0 for 200 steps) where this file keeps it
on the reconstruction loss. Not shipped; kept as the starting point for longer GAN phases.

Run after stage 1 (resumes stage 1's full state, step 5,000, into a new run folder; started again,
it resumes from its own last checkpoint):
  sscodec train --config experiments/speech_cpu_24khz.py --workdir runs/speech_cpu
  sscodec train --config experiments/speech_cpu_24khz_gan.py --workdir runs/speech_cpu_gan \\
      --resume runs/speech_cpu
"""

from sscodec.config import load_sibling


def get_config():
    config = load_sibling(__file__, "speech_cpu_24khz.py")
    start = config.num_steps  # stage 1's last step
    config.num_steps = start + 1500  # ~1 h on 2 idle cores (~2.2 s a GAN step)
    l = config.loss
    l.adversarial_start_step = start
    l.adversarial_warmup_steps = 200
    l.balancer_shares = (0.8, 0.1, 0.1)
    o = config.optim
    o.lr_schedule = "constant"
    o.generator_lr = 5e-5  # stage 1's cosine ends at 0.1 x 5e-4
    config.train.eval_every = 200
    return config
