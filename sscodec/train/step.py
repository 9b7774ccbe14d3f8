"""The pure GAN train step: generator update, then discriminator update, in one compiled function.

`train_step(state, batch) -> (state, metrics)` is jitted with the state donated. The generator
runs once (a vjp); each loss family's gradient is taken at its output, the reconstruction, and the
families are combined there (by the balancer, see balancer.py, or by the paper's fixed lambdas)
before one backward pass through the generator. The discriminators' forward passes on the real
audio and on the reconstruction each run once and serve both updates. The discriminator sees the
reconstruction of the same generator forward pass (before the generator update), detached.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec
from ml_collections import ConfigDict

from sscodec.nn import losses, partitioning
from sscodec.train import balancer as balancer_lib
from sscodec.train.schedule import lr_factor
from sscodec.train.state import Models, State, update_ema

Batch = dict[str, jax.Array]


def make_train_step(config: ConfigDict, models: Models) -> Callable[[State, Batch], tuple[State, dict]]:
    """Builds the pure step for `config`; jit it with `donate_argnums=0`."""
    gen, disc = models.generator, models.discriminators
    l = config.loss
    commit_weight = config.quantizer.commitment_weight
    sample_rate = config.sample_rate
    lambdas = (l.lambda_rec, l.lambda_adv, l.lambda_feat)
    mel_bins = losses.mel_bins_per_window(l.mel_windows, l.mel_bins)
    multichannel = config.model.channels > 1  # audio [B, T, C]

    def disc_apply(params, audio):  # losses in float32 whatever the compute dtype
        return jax.tree.map(lambda x: x.astype(jnp.float32), disc.apply({"params": params}, audio))

    def reconstruction_loss(target, recon):
        if multichannel:  # [B, T, C] -> [B, C, T]: the terms run along time, channel by channel
            target, recon = jnp.moveaxis(target, -1, 1), jnp.moveaxis(recon, -1, 1)
        emphasized = [losses.preemphasize(x, l.mel_preemphasis) if l.mel_preemphasis else x
                      for x in (target, recon)]
        mel = losses.multiscale_mel_loss(*emphasized, sample_rate, tuple(l.mel_windows),
                                         mel_bins, l.log_epsilon, l.mel_l1, l.log_floor,
                                         l.mel_loss, l.log_l1_weight, l.log_l1_floor_db,
                                         channels_first=multichannel)
        if not l.waveform_l1_weight:
            return mel
        return mel + l.waveform_l1_weight * losses.waveform_l1(target, recon)

    def scaled(updates, factor):
        return jax.tree.map(lambda u: u * factor.astype(u.dtype), updates)

    def gan(disc_params, disc_opt, target, recon, factor):
        """The GAN half: the generator's adversarial and feature-matching output gradients, and
        the discriminator update on (target, detached recon)."""
        real_out, real_vjp = jax.vjp(lambda p: disc_apply(p, target), disc_params)
        real_features = jax.lax.stop_gradient(real_out)
        fake_out, fake_vjp = jax.vjp(disc_apply, disc_params, recon)
        adv, d_adv = jax.value_and_grad(losses.hinge_generator_loss)(fake_out)
        feat, d_feat = jax.value_and_grad(
            lambda f: losses.feature_matching_loss(real_features, f))(fake_out)
        # Inside one jit the parameter half of these vjps is dead code and is dropped.
        g_adv, g_feat = fake_vjp(d_adv)[1], fake_vjp(d_feat)[1]
        # The discriminator sees the reconstruction from before this step's generator update.
        disc_loss, (d_real, d_fake) = jax.value_and_grad(
            losses.hinge_discriminator_loss, argnums=(0, 1))(real_out, jax.lax.stop_gradient(fake_out))
        disc_grads = jax.tree.map(jnp.add, real_vjp(d_real)[0], fake_vjp(d_fake)[0])
        disc_updates, disc_opt = models.disc_tx.update(disc_grads, disc_opt, disc_params)
        disc_params = optax.apply_updates(disc_params, scaled(disc_updates, factor))
        metrics = {"loss/discriminator": disc_loss, "norm/discriminator_grad": optax.tree.norm(disc_grads)}
        return (adv, feat, g_adv, g_feat), disc_params, disc_opt, metrics

    def no_gan(disc_params, disc_opt, target, recon, factor):
        zero = jnp.zeros((), jnp.float32)
        metrics = {"loss/discriminator": zero, "norm/discriminator_grad": zero}
        return (zero, zero, jnp.zeros_like(recon), jnp.zeros_like(recon)), disc_params, disc_opt, metrics

    def train_step(state: State, batch: Batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
        dropout_key, quantizer_key = jax.random.split(key)
        inputs, target, denoise = batch["input"], batch["target"], batch["denoise"]
        adv_on = state["step"] >= l.adversarial_start_step
        # During the discriminators' warm-up they train on the generator's output, but their
        # gradients do not reach the generator yet (it keeps to the reconstruction loss).
        gen_adv_on = state["step"] >= l.adversarial_start_step + l.adversarial_warmup_steps
        factor = lr_factor(config, state["step"])

        def generator(gen_params):
            (recon, aux), mutated = gen.apply(
                {"params": gen_params, "quantizer": state["quantizer"]}, inputs, denoise,
                train=True, rngs={"dropout": dropout_key, "quantizer": quantizer_key},
                mutable=["quantizer"])
            return (recon.astype(jnp.float32), aux["commit_loss"]), (aux, mutated["quantizer"])

        (recon, commit), gen_vjp, (aux, quantizer) = jax.vjp(
            generator, state["gen_params"], has_aux=True)
        rec, g_rec = jax.value_and_grad(reconstruction_loss, argnums=1)(target, recon)
        # Before adversarial_start_step the discriminators are neither run nor trained: a cond,
        # so the reconstruction-only warm-up costs only the generator.
        (adv, feat, g_adv, g_feat), disc_params, disc_opt, disc_metrics = jax.lax.cond(
            adv_on, gan, no_gan, state["disc_params"], state["disc_opt"], target, recon, factor)

        grads = (g_rec, g_adv, g_feat)
        active = (1.0, gen_adv_on, gen_adv_on)
        if l.balancer:
            g_out, balancer, grad_metrics = balancer_lib.balance(
                grads, active, tuple(l.balancer_shares), state["balancer"], l.balancer_decay)
        else:
            g_out = sum(w * a * g for w, a, g in zip(lambdas, active, grads))
            balancer = state["balancer"]
            grad_metrics = {f"grad_out/{name}": balancer_lib.per_example_norm(w * g)
                            for name, w, g in zip(balancer_lib.FAMILIES, lambdas, grads)}
        (gen_grads,) = gen_vjp((g_out, jnp.asarray(commit_weight, jnp.float32)))
        gen_updates, gen_opt = models.gen_tx.update(gen_grads, state["gen_opt"], state["gen_params"])
        gen_params = optax.apply_updates(state["gen_params"], scaled(gen_updates, factor))

        adv_weight = gen_adv_on.astype(jnp.float32)
        total = (l.lambda_rec * rec + adv_weight * (l.lambda_adv * adv + l.lambda_feat * feat)
                 + commit_weight * commit)
        metrics = {"loss/generator": total, "loss/reconstruction": rec, "loss/adversarial": adv,
                   "loss/feature": feat, "loss/commitment": commit,
                   "rvq/codebook_usage": aux["codebook_usage"],
                   "rvq/dead_codes_replaced": aux["dead_codes_replaced"],
                   "rvq/mean_n_q": jnp.mean(aux["n_q"].astype(jnp.float32)),
                   **{f"rvq/perplexity_q{i}": aux["perplexity"][i]
                      for i in range(config.quantizer.num_quantizers)},
                   "loss/waveform_l1": losses.waveform_l1(target, recon),
                   "level/output_minus_input_db": _level_db(recon) - _level_db(target),
                   **grad_metrics, **disc_metrics,
                   "norm/generator_grad": optax.tree.norm(gen_grads), "optim/lr_factor": factor,
                   "norm/generator_params": optax.tree.norm(gen_params),
                   "norm/discriminator_params": optax.tree.norm(disc_params)}
        new_state = {
            "step": state["step"] + 1, "rng": state["rng"],
            "gen_params": gen_params, "quantizer": quantizer, "gen_opt": gen_opt,
            "disc_params": disc_params, "disc_opt": disc_opt, "balancer": balancer,
        }
        if "gen_ema" in state:
            new_state["gen_ema"] = update_ema(state["gen_ema"], gen_params, state["step"],
                                              config.optim.weight_ema_decay)
        return new_state, metrics

    return train_step


def _level_db(x: jax.Array) -> jax.Array:
    return 10.0 * jnp.log10(jnp.mean(jnp.square(x)) + 1e-12)


def jit_train_step(config: ConfigDict, models: Models, state: State, batch: Batch):
    """The step jitted with the shardings of `state` and `batch` (arrays or ShapeDtypeStructs
    with shardings), the state donated, the metrics replicated."""
    state_sh = jax.tree.map(lambda x: x.sharding, state)
    batch_sh = jax.tree.map(lambda x: x.sharding, batch)
    mesh = jax.tree.leaves(batch_sh)[0].mesh
    metrics_sh = NamedSharding(mesh, PartitionSpec())
    return jax.jit(make_train_step(config, models), in_shardings=(state_sh, batch_sh),
                   out_shardings=(state_sh, metrics_sh), donate_argnums=0)


def _under_batch_mesh(batch: Batch):
    """Trace inside this so that ops GSPMD cannot split over the batch run per device
    (`partitioning.per_shard`): the batch's mesh and the mesh axes its leading dimension is split over."""
    sharding = jax.tree.leaves(batch)[0].sharding
    return partitioning.batch_partitioned(sharding.mesh, sharding.spec[0] if sharding.spec else None)


def lower_train_step(config: ConfigDict, models: Models, state: State, batch: Batch):
    """The jitted step lowered for these (sharded) arguments, traced under the batch's mesh."""
    with _under_batch_mesh(batch):
        return jit_train_step(config, models, state, batch).lower(state, batch)


def codebooks_initialized(state: State) -> bool:
    """Whether the state's RVQ codebooks have had their k-means init."""
    return bool(jax.device_get(state["quantizer"]["quantizer"]["initialized"]))


def initialize_codebooks(config: ConfigDict, models: Models, state: State, batch: Batch) -> State:
    """The state with k-means-initialized codebooks, from the embeddings of `batch` under the
    state's generator: a program compiled and run once, before the first step, with the state's
    and batch's shardings (the k-means sums reduce over the global batch). The state is donated.
    The key is the run's rng folded with 2**32 - 1, a step number no run reaches."""
    gen = models.generator

    def init(state: State, batch: Batch) -> State:
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), 2**32 - 1)
        _, mutated = gen.apply({"params": state["gen_params"], "quantizer": state["quantizer"]},
                               batch["input"], batch["denoise"], rngs={"quantizer": key},
                               method="initialize_codebooks", mutable=["quantizer"])
        return {**state, "quantizer": mutated["quantizer"]}

    state_sh = jax.tree.map(lambda x: x.sharding, state)
    batch_sh = jax.tree.map(lambda x: x.sharding, batch)
    with _under_batch_mesh(batch):
        compiled = jax.jit(init, in_shardings=(state_sh, batch_sh), out_shardings=state_sh,
                           donate_argnums=0).lower(state, batch).compile()
    return compiled(state, batch)


def compile_train_step(config: ConfigDict, models: Models, state: State, batch: Batch):
    """The jitted, donated step, compiled ahead of time for these (sharded) arguments."""
    return lower_train_step(config, models, state, batch).compile()
