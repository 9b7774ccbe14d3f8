"""The training state (a plain pytree), the models and optimizers that go with it, and its init.

state = {
  "step": int32 scalar, "rng": PRNG key data,
  "gen_params", "quantizer" (RVQ codebooks and EMA statistics), "gen_opt",
  "disc_params", "disc_opt",
  "balancer" (the loss balancer's gradient-norm averages, see balancer.py),
  "gen_ema" (with optim.weight_ema_decay > 0 only: the generator parameters' moving average),
}
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from ml_collections import ConfigDict

from sscodec.train import parallel
from sscodec.config import init_length, samples_per_frame
from sscodec.nn.discriminators import Discriminators, build_discriminators
from sscodec.nn.soundstream import SoundStream, build_generator
from sscodec.train.balancer import init_balancer_state

State = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Models:
    """Everything static that the pure train step closes over."""

    generator: SoundStream
    discriminators: Discriminators
    gen_tx: optax.GradientTransformation
    disc_tx: optax.GradientTransformation


def make_optimizer(lr: float, b1: float, b2: float, clip: float) -> optax.GradientTransformation:
    adam = optax.adam(lr, b1=b1, b2=b2)
    return optax.chain(optax.clip_by_global_norm(clip), adam) if clip > 0 else adam


def compute_dtype(config: ConfigDict):
    """The activations' dtype: None (float32, as the parameters) or bfloat16."""
    return jnp.bfloat16 if config.train.compute_dtype == "bfloat16" else None


def build_models(config: ConfigDict) -> Models:
    o = config.optim
    dtype = compute_dtype(config)
    return Models(
        generator=build_generator(config, dtype),
        discriminators=build_discriminators(config, dtype),
        gen_tx=make_optimizer(o.generator_lr, o.b1, o.b2, o.grad_clip_norm),
        disc_tx=make_optimizer(o.discriminator_lr, o.b1, o.b2, o.grad_clip_norm),
    )


def crop_length(config: ConfigDict) -> int:
    return config.data.crop_frames * samples_per_frame(config)


def init_state(models: Models, seed: int, length: int, boxed: bool = False,
               ema: bool = False, channels: int = 1) -> State:
    """Builds a fresh state; call under `jax.jit` (with out_shardings) or `jax.eval_shape`.

    `boxed` keeps the logical axis names on parameters, codebooks and Adam moments (for deriving
    shardings); the state itself is plain arrays.
    """
    # rbg keys for parameter init: XLA:CPU compiles the init 2-3x faster than with threefry.
    gen_key, disc_key = jax.random.split(jax.random.key(seed, impl="rbg"))
    train_key = jax.random.key(seed)
    audio = jnp.zeros((1, length) if channels == 1 else (1, length, channels), jnp.float32)
    gen_vars = models.generator.init({"params": gen_key}, audio)
    disc_params = models.discriminators.init({"params": disc_key}, audio)["params"]
    state = {
        "step": jnp.zeros((), jnp.int32),
        "rng": jax.random.key_data(train_key),
        "gen_params": gen_vars["params"],
        "quantizer": gen_vars["quantizer"],
        "gen_opt": models.gen_tx.init(gen_vars["params"]),
        "disc_params": disc_params,
        "disc_opt": models.disc_tx.init(disc_params),
        "balancer": init_balancer_state(),
    }
    if ema:
        state["gen_ema"] = gen_vars["params"]
    return state if boxed else nn.unbox(state)


def abstract_state(models: Models, config: ConfigDict, boxed: bool = False) -> State:
    """The state's shapes and dtypes (with logical names if `boxed`), computed without allocating."""
    return jax.eval_shape(lambda: init_state(models, config.seed, init_length(config), boxed,
                                             config.optim.weight_ema_decay > 0,
                                             config.model.channels))


def shardings_for(models: Models, config: ConfigDict, mesh) -> State:
    """A NamedSharding for every leaf of the state on `mesh`, from `config.mesh.rules`."""
    return parallel.state_shardings(abstract_state(models, config, boxed=True), mesh,
                                    tuple(config.mesh.rules), config.mesh.fsdp_min_size)


def create_state(models: Models, config: ConfigDict, mesh=None) -> State:
    """One jitted init that materializes the state directly with its shardings when a mesh is
    given (shapes first: the state never exists unsharded)."""
    out_shardings = None if mesh is None else shardings_for(models, config, mesh)
    length = init_length(config)
    ema = config.optim.weight_ema_decay > 0
    channels = config.model.channels
    return jax.jit(lambda: init_state(models, config.seed, length, ema=ema, channels=channels),
                   out_shardings=out_shardings)()


def eval_params_key(state: State) -> str:
    """The generator parameters to validate, sample and export: the moving average if kept."""
    return "gen_ema" if "gen_ema" in state else "gen_params"


def update_ema(ema, params, step: jax.Array, decay: float):
    """ema <- d ema + (1 - d) params with d = min(decay, (1 + step) / (10 + step))."""
    step = step.astype(jnp.float32)
    d = jnp.minimum(decay, (1.0 + step) / (10.0 + step))
    return jax.tree.map(lambda e, p: d * e + (1.0 - d) * p, ema, params)


def count_params(tree) -> int:
    return int(sum(x.size for x in jax.tree.leaves(tree)))
