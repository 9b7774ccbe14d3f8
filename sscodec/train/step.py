"""The pure GAN train step: generator update, then discriminator update, in one compiled function.

`train_step(state, batch) -> (state, metrics)` is jitted with the state donated. The
discriminators' forward pass on the real audio runs once and serves both updates (its features for
feature matching, its vjp for the discriminator gradient). The discriminator sees the
reconstruction of the same generator forward pass (before the generator update), detached.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec
from ml_collections import ConfigDict

from sscodec import losses
from sscodec.train.state import Models, State

Batch = dict[str, jax.Array]


def make_train_step(config: ConfigDict, models: Models) -> Callable[[State, Batch], tuple[State, dict]]:
    """Builds the pure step for `config`; jit it with `donate_argnums=0`."""
    gen, disc = models.generator, models.discriminators
    l = config.loss
    commit_weight = config.quantizer.commitment_weight
    sample_rate = config.sample_rate

    def disc_apply(params, audio):  # losses in float32 whatever the compute dtype
        return jax.tree.map(lambda x: x.astype(jnp.float32), disc.apply({"params": params}, audio))

    def train_step(state: State, batch: Batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
        dropout_key, quantizer_key = jax.random.split(key)
        inputs, target, denoise = batch["input"], batch["target"], batch["denoise"]
        adv_on = (state["step"] >= l.adversarial_start_step).astype(jnp.float32)

        real_out, real_vjp = jax.vjp(lambda p: disc_apply(p, target), state["disc_params"])
        real_features = jax.lax.stop_gradient(real_out)

        def generator_loss(gen_params):
            (recon, aux), mutated = gen.apply(
                {"params": gen_params, "quantizer": state["quantizer"]}, inputs, denoise,
                train=True, rngs={"dropout": dropout_key, "quantizer": quantizer_key},
                mutable=["quantizer"])
            recon = recon.astype(jnp.float32)
            fake_out = disc_apply(state["disc_params"], recon)
            rec = losses.multiscale_mel_loss(target, recon, sample_rate, tuple(l.mel_windows),
                                             l.mel_bins, l.log_epsilon)
            adv = losses.hinge_generator_loss(fake_out)
            feat = losses.feature_matching_loss(real_features, fake_out)
            total = (l.lambda_rec * rec + adv_on * (l.lambda_adv * adv + l.lambda_feat * feat)
                     + commit_weight * aux["commit_loss"])
            metrics = {"loss/generator": total, "loss/reconstruction": rec, "loss/adversarial": adv,
                       "loss/feature": feat, "loss/commitment": aux["commit_loss"],
                       "rvq/codebook_usage": aux["codebook_usage"],
                       "rvq/dead_codes_replaced": aux["dead_codes_replaced"],
                       "rvq/mean_n_q": jnp.mean(aux["n_q"].astype(jnp.float32)),
                       "loss/waveform_l1": jnp.mean(jnp.abs(recon - target))}
            return total, (recon, mutated["quantizer"], metrics)

        (_, (recon, quantizer, metrics)), gen_grads = jax.value_and_grad(
            generator_loss, has_aux=True)(state["gen_params"])
        gen_updates, gen_opt = models.gen_tx.update(gen_grads, state["gen_opt"], state["gen_params"])
        gen_params = optax.apply_updates(state["gen_params"], gen_updates)

        fake = jax.lax.stop_gradient(recon)

        def discriminator_loss(disc_params, real):
            return losses.hinge_discriminator_loss(real, disc_apply(disc_params, fake))

        disc_loss, (grads_fake_path, grad_real_out) = jax.value_and_grad(
            discriminator_loss, argnums=(0, 1))(state["disc_params"], real_out)
        (grads_real_path,) = real_vjp(grad_real_out)
        disc_grads = jax.tree.map(jnp.add, grads_fake_path, grads_real_path)
        disc_updates, disc_opt = models.disc_tx.update(disc_grads, state["disc_opt"],
                                                       state["disc_params"])
        disc_params = optax.apply_updates(state["disc_params"], disc_updates)

        metrics.update({
            "loss/discriminator": disc_loss,
            "norm/generator_grad": optax.tree.norm(gen_grads),
            "norm/generator_params": optax.tree.norm(gen_params),
            "norm/discriminator_grad": optax.tree.norm(disc_grads),
            "norm/discriminator_params": optax.tree.norm(disc_params),
        })
        new_state = {
            "step": state["step"] + 1, "rng": state["rng"],
            "gen_params": gen_params, "quantizer": quantizer, "gen_opt": gen_opt,
            "disc_params": disc_params, "disc_opt": disc_opt,
        }
        return new_state, metrics

    return train_step


def jit_train_step(config: ConfigDict, models: Models, state: State, batch: Batch):
    """The step jitted with the shardings of `state` and `batch` (arrays or ShapeDtypeStructs
    with shardings), the state donated, the metrics replicated."""
    state_sh = jax.tree.map(lambda x: x.sharding, state)
    batch_sh = jax.tree.map(lambda x: x.sharding, batch)
    mesh = jax.tree.leaves(batch_sh)[0].mesh
    metrics_sh = NamedSharding(mesh, PartitionSpec())
    return jax.jit(make_train_step(config, models), in_shardings=(state_sh, batch_sh),
                   out_shardings=(state_sh, metrics_sh), donate_argnums=0)


def compile_train_step(config: ConfigDict, models: Models, state: State, batch: Batch):
    """The jitted, donated step, compiled ahead of time for these (sharded) arguments."""
    return jit_train_step(config, models, state, batch).lower(state, batch).compile()
