"""What SAC and TD3 share: the common settings (:class:`OffPolicyConfig`), the static pieces
(:func:`make_setup`), the train state (:class:`TrainState`), the stored transition
(:class:`Transition`) and the collect-add-learn update (:func:`make_update`).

One update steps every environment ``train_freq`` times (uniformly random actions while fewer
than ``learning_starts`` environment steps are done, then the algorithm's exploring policy),
adds those transitions to the replay buffer and, once ``learning_starts`` steps are in, takes
``gradient_steps`` gradient steps of the algorithm's own on sampled batches. Before that the
gradient steps are skipped by a ``lax.cond`` (a select under ``vmap``), so every update
compiles to the same program. Box actions are stored and learned in ``[-1, 1]^A``; the
environment gets them rescaled to its bounds (:func:`rljax.learning.actor_critic.to_box`).
Discrete actions (SAC-Discrete; an algorithm opts in with ``discrete_actions``) are stored as
int32 indices. Exploration noise is drawn ahead for the whole update and may be held for
``noise_repeat`` steps (temporally correlated, as gSDE's).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from rljax import spaces
from rljax.configs import ConfigBase, field, leaf_names
from rljax.env import make, registered_ids
from rljax.learning import optim, recording, updates
from rljax.learning.actor_critic import to_box
from rljax.learning.episodes import Policy, ProgramCache
from rljax.learning.replay import Replay, ReplayState, make_replay
from rljax.networks import ACTIVATIONS
from rljax.vector import VecEnv, VecEnvState

# The schedule SAC's and TD3's MountainCarContinuous presets share (RL Zoo's SAC one): 32 env
# steps then 32 gradient steps, the exploration noise held for those 32 steps (in place of gSDE:
# white noise pushes the car back and forth and never builds the momentum to the goal), gamma
# 0.9999 for the long horizon, 64 x 64 networks.
MOUNTAINCAR_SCHEDULE: dict[str, Any] = dict(
    env_id="MountainCarContinuous-v0",
    total_timesteps=50_000,
    train_freq=32,
    gradient_steps=32,
    noise_repeat=32,
    buffer_size=50_000,
    batch_size=256,
    learning_starts=0,
    lr=3e-4,
    gamma=0.9999,
    tau=0.01,
    hidden_sizes=(64, 64),
)


@dataclasses.dataclass(frozen=True)
class OffPolicyConfig(ConfigBase):
    """The fields and rules SAC and TD3 share (defaults: SB3's). A subclass names its
    hyperparameter leaves' pytree class as ``hparams_cls``."""

    hparams_cls: ClassVar[type]
    # whether the algorithm also learns Discrete action spaces (SAC-Discrete does)
    discrete_actions: ClassVar[bool] = False

    env_id: str = field("Pendulum-v1", "registered environment id (1-D Box actions)")
    num_envs: int = field(1, "parallel environments per seed")
    total_timesteps: int = field(
        20_000, "environment steps per seed (updates = this // (num_envs * train_freq))"
    )
    train_freq: int = field(1, "environment steps per env between rounds of gradient steps")
    gradient_steps: int = field(1, "gradient steps per update (each on one sampled batch)")
    buffer_size: int = field(100_000, "replay capacity in transitions (all envs together)")
    batch_size: int = field(256, "transitions per gradient step")
    learning_starts: int = field(
        100, "environment steps of uniformly random actions before learning begins"
    )
    noise_repeat: int = field(
        1,
        "env steps each exploration draw is held for (temporally correlated exploration, like "
        "gSDE's; must divide train_freq)",
    )
    lr: float = field(1e-3, "Adam learning rate of actor and critics", leaf=True)
    gamma: float = field(0.99, "discount factor", leaf=True)
    tau: float = field(0.005, "Polyak coefficient of the target networks", leaf=True)
    max_grad_norm: float = field(100.0, "global gradient-norm clip of each network", leaf=True)
    adam_eps: float = field(1e-8, "Adam epsilon")
    hidden_sizes: tuple[int, ...] = field((256, 256), "hidden layer sizes of actor and critics")
    activation: str = field("relu", "hidden activation")
    env_kwargs: tuple[tuple[str, Any], ...] = field(
        (), "environment parameter overrides, values parsed as JSON (e.g. gravity=9.81)"
    )

    def validate(self) -> None:
        validate_off_policy(self)

    @property
    def steps_per_update(self) -> int:
        """Environment steps of one update, all envs together."""
        return self.num_envs * self.train_freq

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.steps_per_update

    def hparams(self) -> Any:
        """This config's numeric hyperparameters (its ``leaf=True`` fields) as float32 leaves of
        ``hparams_cls``."""
        return self.hparams_cls(
            **{name: jnp.float32(getattr(self, name)) for name in leaf_names(type(self))}
        )


def validate_off_policy(config: OffPolicyConfig) -> None:
    """The rules of :class:`OffPolicyConfig`'s fields (a ``ValueError`` naming the field)."""
    if config.env_id not in registered_ids():
        config.fail("env_id", f"must be one of {', '.join(registered_ids())}")
    for name in ("num_envs", "train_freq", "gradient_steps", "buffer_size", "batch_size"):
        if getattr(config, name) < 1:
            config.fail(name, "must be an integer >= 1")
    if config.total_timesteps < config.steps_per_update:
        config.fail(
            "total_timesteps", f"must be >= num_envs * train_freq = {config.steps_per_update}"
        )
    if config.noise_repeat < 1 or config.train_freq % config.noise_repeat:
        config.fail("noise_repeat", f"must be >= 1 and divide train_freq={config.train_freq}")
    if config.buffer_size < config.batch_size:
        config.fail("buffer_size", f"must hold at least one batch (batch_size={config.batch_size})")
    if config.buffer_size % config.num_envs:
        config.fail("buffer_size", f"must be a multiple of num_envs={config.num_envs}")
    if config.buffer_size // config.num_envs < config.train_freq:
        config.fail("buffer_size", f"keeps fewer steps per env than train_freq={config.train_freq}")
    if not 0 <= config.learning_starts < config.total_timesteps:
        config.fail("learning_starts", f"must be in [0, total_timesteps={config.total_timesteps})")
    if config.learning_starts > config.buffer_size:
        config.fail("learning_starts", f"must be <= buffer_size={config.buffer_size}")
    if not config.lr > 0:
        config.fail("lr", "must be > 0")
    if not 0.0 <= config.gamma <= 1.0:
        config.fail("gamma", "must be in [0, 1]")
    if not 0.0 < config.tau <= 1.0:
        config.fail("tau", "must be in (0, 1]")
    for name in ("max_grad_norm", "adam_eps"):
        if not getattr(config, name) > 0:
            config.fail(name, "must be > 0")
    if config.activation not in ACTIVATIONS:
        config.fail("activation", f"must be one of {', '.join(ACTIVATIONS)}")
    if not config.hidden_sizes or any(h < 1 for h in config.hidden_sizes):
        config.fail("hidden_sizes", "must be a non-empty sequence of sizes >= 1")
    try:
        env, params = make(config.env_id, **dict(config.env_kwargs))
    except ValueError as error:
        raise ValueError(f"Config.env_kwargs={dict(config.env_kwargs)!r}: {error}") from None
    if env.reward_shape(params) != ():
        config.fail("env_id", "needs a single-agent environment (one scalar reward)")
    space = env.action_space(params)
    if isinstance(space, spaces.Discrete) and type(config).discrete_actions:
        return
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        allowed = "a 1-D Box" + (" or a Discrete" if type(config).discrete_actions else "")
        config.fail("env_id", f"needs {allowed} action space, not {space!r}")
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        config.fail("env_id", "needs finite action bounds (actions are rescaled from [-1, 1])")


@struct.dataclass
class OffPolicyHParams:
    """The hyperparameter leaves of :class:`OffPolicyConfig`'s fields (float32 scalars, ``[S]``
    under vmap); an algorithm's ``HParams`` derives from it and adds its own after them."""

    lr: jax.Array
    gamma: jax.Array
    tau: jax.Array
    max_grad_norm: jax.Array


class Setup(NamedTuple):
    """The static pieces of a run, built from its config by :func:`make_setup`."""

    venv: VecEnv
    env_params: Any
    replay: Replay
    obs_shape: tuple[int, ...]
    action_dim: int  # A: the Box's dimensions, or the number of Discrete actions
    action_low: np.ndarray | None  # [A] float32 bounds of the Box (None if Discrete)
    action_high: np.ndarray | None
    discrete: bool


def make_setup(config: OffPolicyConfig) -> Setup:
    """The environments, action bounds and replay buffer of ``config``."""
    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    # Concrete bounds even when built inside a trace (the jitted evaluation programs build the
    # policy there; the space's bounds would otherwise be tracers, which numpy cannot hold).
    with jax.ensure_compile_time_eval():
        space = env.action_space(env_params)
        discrete = isinstance(space, spaces.Discrete)
        if discrete:
            low = high = None
        else:
            low, high = np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
    replay = make_replay(
        capacity=config.buffer_size,
        num_envs=config.num_envs,
        batch_size=config.batch_size,
        min_size=max(config.batch_size, config.learning_starts),
    )
    obs_shape = tuple(env.observation_space(env_params).shape)
    venv = VecEnv(env, config.num_envs)
    action_dim = int(space.n) if discrete else int(space.shape[0])
    return Setup(venv, env_params, replay, obs_shape, action_dim, low, high, discrete)


class Transition(NamedTuple):
    """One environment step as the replay buffer stores it (leaves without batch axes there).

    ``next_obs`` is the observation the step led to in its own episode (``info["final_obs"]``
    when the step ended one, not the next episode's first); ``terminated`` is the bootstrap mask.
    """

    obs: jax.Array  # [*obs_shape] float32
    action: jax.Array  # [A] float32 in [-1, 1], or [] int32 (Discrete)
    reward: jax.Array  # [] float32
    terminated: jax.Array  # [] bool
    next_obs: jax.Array  # [*obs_shape] float32


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: a checkpoint saves this whole pytree, the
    replay buffer with it, so a resumed run samples what the uninterrupted one would."""

    params: Any  # {"actor": ..., "critic": ...} (SAC adds "log_alpha")
    target_params: Any  # the target networks ({"critic": ...}; TD3 adds "actor")
    opt_state: Any  # one optimiser state per entry of params
    replay: ReplayState
    env_state: VecEnvState
    obs: jax.Array  # [num_envs, *obs_shape] float32, the observation the next update acts on
    key: jax.Array  # typed PRNG key
    update_step: jax.Array  # int32, updates done so far
    grad_step: jax.Array  # int32, gradient steps taken so far


def example_action(setup: Setup) -> jax.Array:
    """A zero action of ``setup``'s kind: ``[A]`` float32 (Box) or ``[]`` int32 (Discrete)."""
    if setup.discrete:
        return jnp.int32(0)
    return jnp.zeros((setup.action_dim,), jnp.float32)


def env_action(setup: Setup, action: jax.Array) -> jax.Array:
    """What the environment gets for the learner's ``action``: rescaled to the Box's bounds
    (:func:`rljax.learning.actor_critic.to_box`), or the Discrete index itself."""
    return action if setup.discrete else to_box(action, setup.action_low, setup.action_high)


class TrainResult(NamedTuple):
    params: Any
    metrics: dict[str, jax.Array]  # each [num_updates] (or [S, num_updates] under vmap)
    state: TrainState


def init_state(
    config: OffPolicyConfig,
    setup: Setup,
    key: jax.Array,
    hparams: Any,
    params: dict,
    target_params: dict,
) -> TrainState:
    """A fresh :class:`TrainState`: ``params`` and their targets, one optimiser state per
    network, an empty replay buffer and environments reset from a split of ``key``."""
    key, key_env = jax.random.split(key)
    obs, env_state = setup.venv.reset(key_env, setup.env_params)
    dummy = jnp.zeros(setup.obs_shape, jnp.float32)
    example = Transition(
        obs=dummy,
        action=example_action(setup),
        reward=jnp.float32(0.0),
        terminated=jnp.bool_(False),
        next_obs=dummy,
    )
    optimizer = optim.make_optimizer(hparams.max_grad_norm, config.adam_eps)
    return TrainState(
        params=params,
        target_params=target_params,
        opt_state={name: optimizer.init(p) for name, p in params.items()},
        replay=setup.replay.init(example),
        env_state=env_state,
        obs=obs.astype(jnp.float32),
        key=key,
        update_step=jnp.int32(0),
        grad_step=jnp.int32(0),
    )


def adam_step(
    config: OffPolicyConfig, hparams: Any, grads: Any, opt_state: Any, params: Any
) -> tuple[Any, Any]:
    """``(params, opt_state)`` after one clipped Adam step of ``lr`` on ``grads`` (one network)."""
    optimizer: optax.GradientTransformation = optim.make_optimizer(
        hparams.max_grad_norm, config.adam_eps
    )
    param_updates, opt_state = optimizer.update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p - hparams.lr * u, params, param_updates), opt_state


# explore(params, obs [N, D], noise [N, A], hparams) -> action [N, A] in [-1, 1] (Box; the
# noise standard normal) or [N] int32 (Discrete; the noise standard Gumbel)
Explore = Callable[[Any, jax.Array, jax.Array, Any], jax.Array]
# gradient_step(learner, batch (Transition, leaves [B, ...]), hparams, key) -> (learner, aux)
# with learner = (params, target_params, opt_state, grad_step) and aux {name: scalar}
GradientStep = Callable[[tuple, Transition, Any, jax.Array], tuple[tuple, dict]]


def make_collect(config: OffPolicyConfig, setup: Setup, explore: Explore) -> Callable[..., tuple]:
    """``collect(state, hparams, key) -> (env_state, obs, transitions [N, T, ...],
    episodes_finished)``: ``train_freq`` steps of every env, random actions before
    ``learning_starts`` steps."""
    venv, env_params = setup.venv, setup.env_params
    T, N, A = config.train_freq, config.num_envs, setup.action_dim

    def collect(state: TrainState, hparams: Any, key: jax.Array):
        key_uniform, key_noise, key_env = jax.random.split(key, 3)
        # noise drawn ahead for the whole update: per-step draws are expensive on a CPU
        # each draw held for noise_repeat consecutive steps (a push that lasts builds momentum)
        draws = (T // config.noise_repeat, N, A)
        if setup.discrete:  # a uniformly random index is the argmax of Gumbel noise
            uniform = jnp.argmax(jax.random.gumbel(key_uniform, draws), -1).astype(jnp.int32)
            noise = jax.random.gumbel(key_noise, draws, jnp.float32)
        else:
            uniform = jax.random.uniform(key_uniform, draws, jnp.float32, -1.0, 1.0)
            noise = jax.random.normal(key_noise, draws, jnp.float32)
        uniform, noise = (jnp.repeat(x, config.noise_repeat, axis=0) for x in (uniform, noise))
        random = state.update_step * T * N + jnp.arange(T) * N < config.learning_starts  # [T]

        def step(carry, inputs):
            env_state, obs = carry
            uniform_t, noise_t, random_t, key_t = inputs
            action = jnp.where(random_t, uniform_t, explore(state.params, obs, noise_t, hparams))
            next_obs, env_state, reward, terminated, _, info = venv.step(
                key_t, env_state, env_action(setup, action), env_params
            )
            transition = Transition(
                obs=obs,
                action=action,
                reward=reward.astype(jnp.float32),
                terminated=terminated,
                next_obs=info["final_obs"].astype(jnp.float32),  # pre-reset: the same episode's
            )
            return (env_state, next_obs.astype(jnp.float32)), (transition, info["episode_done"])

        inputs = (uniform, noise, random, jax.random.split(key_env, T))
        (env_state, obs), (transitions, done) = jax.lax.scan(
            step, (state.env_state, state.obs), inputs
        )
        transitions = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), transitions)
        return env_state, obs, transitions, done.sum(dtype=jnp.float32)

    return collect


def deterministic_policy(
    config: OffPolicyConfig, state: TrainState, greedy: Callable[[Any, jax.Array], jax.Array]
) -> Policy:
    """One environment's deterministic ``policy(key, env_state, obs) -> action`` (for
    :mod:`rljax.learning.episodes`) of one seed's ``state``: ``greedy(actor_params, obs [1, D])
    -> action [1, A]`` in ``[-1, 1]`` rescaled to the env's bounds, or ``[1]`` int32."""
    setup = make_setup(config)

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        action = greedy(state.params["actor"], obs[None].astype(jnp.float32))[0]
        return env_action(setup, action)

    return policy


def mean_last_episodes(env_state: VecEnvState) -> dict[str, jax.Array]:
    """``episode_return`` and ``episode_length``: the means over envs of their last finished
    episode's (NaN before any env finished one)."""
    has_episode = env_state.returned_episode_length > 0
    count = has_episode.sum()

    def mean(x):
        total = jnp.sum(jnp.where(has_episode, x, 0.0))
        return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)

    return {
        "episode_return": mean(env_state.returned_episode_return),
        "episode_length": mean(env_state.returned_episode_length.astype(jnp.float32)),
    }


def make_update(
    config: OffPolicyConfig,
    setup: Setup,
    explore: Explore,
    gradient_step: GradientStep,
    aux_names: tuple[str, ...],
    metric_names: tuple[str, ...],
) -> Callable[..., tuple[TrainState, dict]]:
    """``update(state, hparams) -> (state, metrics)``: one update (module docstring).

    ``metrics`` holds one scalar per name of ``metric_names``: ``episode_return``,
    ``episode_length``, ``episodes_finished``, ``learning`` (1.0 once the update took gradient
    steps), ``env_steps`` and the means of the gradient steps' ``aux_names`` (0 before learning).
    """
    collect = make_collect(config, setup, explore)

    def learn(learner, replay, hparams, key):
        def one(learner, key):
            key_sample, key_step = jax.random.split(key)
            batch = setup.replay.sample(replay, key_sample).steps
            batch = jax.tree.map(lambda x: x[:, 0], batch)  # sequences of one step
            return gradient_step(learner, batch, hparams, key_step)

        learner, aux = jax.lax.scan(one, learner, jax.random.split(key, config.gradient_steps))
        return learner, {name: jnp.mean(aux[name]) for name in aux_names}

    def skip(learner, replay, hparams, key):
        return learner, {name: jnp.float32(0.0) for name in aux_names}

    def update(state: TrainState, hparams: Any):
        key, key_collect, key_learn = jax.random.split(state.key, 3)
        env_state, obs, transitions, finished = collect(state, hparams, key_collect)
        replay = setup.replay.add(state.replay, transitions)
        env_steps = (state.update_step + 1) * config.steps_per_update
        ready = setup.replay.can_sample(replay) & (env_steps >= config.learning_starts)
        learner = (state.params, state.target_params, state.opt_state, state.grad_step)
        learner, aux = jax.lax.cond(ready, learn, skip, learner, replay, hparams, key_learn)
        params, target_params, opt_state, grad_step = learner
        metrics = {
            **mean_last_episodes(env_state),
            **aux,
            "episodes_finished": finished,
            "learning": ready.astype(jnp.float32),
            "env_steps": env_steps,
        }
        new_state = state.replace(
            params=params, target_params=target_params, opt_state=opt_state, replay=replay,
            env_state=env_state, obs=obs, key=key, update_step=state.update_step + 1,
            grad_step=grad_step,
        )  # fmt: skip
        return new_state, {name: metrics[name] for name in metric_names}

    return update


def make_chunk(
    config: OffPolicyConfig,
    num_updates: int,
    make_explore: Callable[[Any, Setup], Explore],
    make_gradient_step: Callable[[Any, Setup], GradientStep],
    aux_names: tuple[str, ...],
    metric_names: tuple[str, ...],
) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` updates of
    :func:`make_update` with the algorithm's exploring policy and gradient step, each metric
    stacked to ``[num_updates]``."""
    setup = make_setup(config)
    explore, gradient_step = make_explore(config, setup), make_gradient_step(config, setup)
    update = make_update(config, setup, explore, gradient_step, aux_names, metric_names)
    return updates.make_chunk(config, update, num_updates)


def evaluation_hooks(
    programs: ProgramCache, episode_policy: Callable[[Any, TrainState], Policy]
) -> tuple[Callable[..., dict[str, Any]], Callable[..., tuple[int, dict[str, Any]]]]:
    """``(evaluate_policy, record_episode)``, the run driver's hooks for a deterministic
    ``episode_policy(config, state)`` (:mod:`rljax.learning.recording`'s, with the jitted
    programs kept in ``programs``):

    - ``evaluate_policy(config, state, episodes, key, max_steps) -> {"returns": float64 [E],
      "lengths": int32 [E]}`` of one seed's ``state``; episode ``i`` plays from
      ``jax.random.split(key, episodes)[i]`` for at most ``max_steps`` steps (host arrays);
    - ``record_episode(config, state, key, max_steps) -> (length, trajectory)``, the trajectory
      as :mod:`rljax.render` draws it.
    """

    def evaluate_policy(config, state, episodes: int, key: jax.Array, max_steps: int):
        return recording.evaluate_policy(
            programs, episode_policy, config, state, episodes, key, max_steps
        )

    def record_episode(config, state, key: jax.Array, max_steps: int):
        return recording.record_episode(programs, episode_policy, config, state, key, max_steps)

    return evaluate_policy, record_episode
