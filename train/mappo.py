"""Multi-agent PPO (IPPO and MAPPO), compiled end to end.

``train = jax.jit(mappo.make_train(config)); result = train(jax.random.key(0))`` runs a whole
multi-agent training run (rollouts of ``num_envs`` joint environments, per-agent GAE, epochs of
shuffled minibatches, Adam) as one XLA program; ``jax.vmap`` over keys trains many seeds at once,
and the numeric hyperparameters are :class:`rljax.train.ppo.HParams` leaves, as in PPO. For long
runs, ``make_init(config)(key)`` and ``make_update_chunk(config, n)(state)``: chunks run back to
back give bitwise the parameters of one ``train`` call.

What it learns with, per agent ``i`` of ``N`` (``obs [N, D]``, ``action [N]``, ``reward [N]``):

- ``critic="independent"`` (IPPO): ``V_i`` sees agent ``i``'s observation only.
  ``critic="centralised"`` (MAPPO): ``V_i`` sees the environment's global state ``[G]``
  (``env.global_state``); the actors see their own observations either way (decentralised
  execution).
- ``share_parameters=True``: one actor and one critic per team, shared by its agents, whose inputs
  end in a one-hot agent id ``[N]``; ``False``: one network pair per agent (no id).
  Teams come from ``env.team_of_agent``: Treasure Hunt has one team, Tag two (chasers and
  evaders), which then learn as separate policies in one program (self-play of teams). Each
  parameter group's PPO loss (:func:`rljax.train.ppo.ppo_loss`, its advantages normalised within
  the group) is summed.
- ``credit="shared"``: agent ``i`` learns from its own environment reward (Treasure Hunt: the team
  reward). ``credit="difference"``: from the difference reward ``D_i = r_i(s, a) - r_i(s, a with
  a_i := STAY)``, the counterfactual stepped from the same state in the same program (vmapped over
  ``i``, same key); see :func:`difference_rewards`. In Treasure Hunt the step cost cancels and
  an agent is credited with the treasures only it collected and charged for its own bumps.
- Advantages: :func:`rljax.train.ppo.compute_gae` per agent (``[T, B * N]``), on rewards
  multiplied by ``reward_scale`` (0.1: Treasure Hunt pays +10 per treasure, and unit-scale
  returns suit the critic); observations and the global state are normalised with running
  statistics (``normalize_obs``), updated after each update from its rollout.

Auto-reset and episode statistics come from :class:`rljax.vector.VecEnv` around
:class:`rljax.multiagent.MultiAgentView` (observation ``{"obs", "global"}``, team-0 reward for the
statistics, per-agent rewards in ``info``). Metrics per update: the team return, length and
success rate (terminated, e.g. every treasure collected) of the episodes finished in the update,
PPO's losses and diagnostics. :func:`make_evaluate` plays whole episodes with the trained policy
(greedy or sampled).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.flatten_util import ravel_pytree

from rljax import spaces
from rljax.configs import field
from rljax.env import make
from rljax.learning import distributions, optim, returns
from rljax.learning.episodes import Policy, ProgramCache, play_episode
from rljax.learning.running_stats import RunningMeanStd
from rljax.multiagent import (
    MultiAgentView,
    episode_summary,
    is_multi_agent,
    noop_action,
    run_episodes,
)
from rljax.networks import Actor, Critic
from rljax.run.algorithm import Algorithm
from rljax.train import ppo
from rljax.train.ppo import HParams
from rljax.vector import VecEnv, VecEnvState

CRITICS = ("independent", "centralised")
CREDITS = ("shared", "difference")

__all__ = [
    "CREDITS",
    "ALGORITHM",
    "CRITICS",
    "METRIC_NAMES",
    "PRESETS",
    "Config",
    "HParams",
    "TrainResult",
    "TrainState",
    "critic_inputs",
    "difference_rewards",
    "episode_policy",
    "evaluate_policy",
    "make_evaluate",
    "make_init",
    "make_policy",
    "make_rollout",
    "make_train",
    "make_update_chunk",
    "normalize_for_policy",
    "parameter_groups",
    "record_episode",
    "run_title",
]


@dataclasses.dataclass(frozen=True)
class Config(ppo.CommonConfig):
    """Multi-agent PPO settings: :class:`ppo.CommonConfig`'s fields (same names and meanings,
    some other defaults) and the multi-agent ones.

    ``total_timesteps`` counts joint environment steps (one step moves every agent).
    """

    env_id: str = field(
        "TreasureHunt-v0", "multi-agent environment id: TreasureHunt-v0 or Tag-v0 (also --env)"
    )
    num_envs: int = field(32, "parallel environments per seed")
    num_steps: int = field(32, "rollout length per update, per environment")
    total_timesteps: int = field(
        500_000, "joint environment steps per seed (updates = this // (num_envs * num_steps))"
    )
    lr: float = field(1e-3, "Adam learning rate", leaf=True)
    clip_value_loss: bool = field(False, "clip the value loss like the policy ratio")
    normalize_obs: bool = field(
        True, "normalise observations and the global state with running statistics"
    )
    env_kwargs: tuple[tuple[str, Any], ...] = field(
        (),
        "environment settings and parameters, values parsed as JSON (e.g. size=12 "
        "num_agents=4 num_treasures=6 obs_mode=egocentric view_size=23)",
    )
    critic: str = field(
        "centralised",
        "independent (IPPO: each agent's critic sees its observation) or centralised "
        "(MAPPO: the critic sees the global state)",
    )
    credit: str = field(
        "shared",
        "shared (each agent learns from its reward) or difference (D_i = G - G with agent "
        "i's action replaced by STAY)",
    )
    share_parameters: bool = field(
        True,
        "one network per team with a one-hot agent id (--no-share-parameters: one per agent)",
    )
    # Treasure Hunt pays +10 per treasure; unit-scale returns suit the critic.
    reward_scale: float = field(0.1, "multiplies the rewards the critic learns")

    def validate(self) -> None:
        ppo.validate_common(self)  # the fields shared with PPO: same rules, same messages
        if self.critic not in CRITICS:
            self.fail("critic", f"must be one of {', '.join(CRITICS)}")
        if self.credit not in CREDITS:
            self.fail("credit", f"must be one of {', '.join(CREDITS)}")
        if not self.reward_scale > 0:
            self.fail("reward_scale", "must be a finite number > 0")
        env, params = make(self.env_id, **dict(self.env_kwargs))
        if not is_multi_agent(env):
            self.fail("env_id", "mappo needs a multi-agent environment (TreasureHunt-v0, Tag-v0)")
        try:
            noop = noop_action(env)
        except ValueError as error:
            self.fail("env_id", str(error))
        space = env.action_space(params)
        if not isinstance(space, spaces.MultiDiscrete) or int(np.min(space.nvec)) <= noop:
            self.fail(
                "env_id", f"mappo needs MultiDiscrete actions with a no-op {noop}; got {space!r}"
            )


# The observation that lets agents coordinate: the egocentric window (other agents and treasures
# around the agent), 9 x 9. The position observation (own cell and nearest treasure) learns the
# greedy heuristic and no better; measurements in benchmarks/multiagent_learning.py.
EGOCENTRIC = {"obs_mode": "egocentric", "view_size": 9}
HARD = {"size": 12, "num_agents": 4, "num_treasures": 6}

# Named configurations (``rljax train mappo --preset NAME``); see benchmarks/multiagent_learning.py.
PRESETS: dict[str, Config] = {
    "treasure_hunt": Config(
        env_id="TreasureHunt-v0",
        num_envs=64,
        num_steps=32,
        total_timesteps=1_000_000,
        env_kwargs=EGOCENTRIC,
    ),
    "treasure_hunt_hard": Config(
        env_id="TreasureHunt-v0",
        num_envs=64,
        num_steps=32,
        total_timesteps=1_000_000,
        env_kwargs={**HARD, **EGOCENTRIC},
    ),
    "tag": Config(env_id="Tag-v0", num_envs=64, num_steps=32, total_timesteps=1_000_000),
}


@struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: a checkpoint saves this whole pytree."""

    params: Any  # {"actor": (group params, ...), "critic": (group params, ...)}
    opt_state: Any
    env_state: VecEnvState  # of VecEnv(MultiAgentView(env)); env_state.env_state is env's own
    obs: Any  # {"obs": [B, N, D], "global": [B, G]}, where the next rollout starts
    key: jax.Array
    update_step: jax.Array  # int32
    obs_stats: RunningMeanStd  # of one agent's observation [D]
    global_stats: RunningMeanStd  # of the global state [G]


class TrainResult(NamedTuple):
    params: Any
    metrics: dict[str, jax.Array]  # each [num_updates] (or [S, num_updates] under vmap)
    state: TrainState


METRIC_NAMES = (
    "episode_return",
    "episode_length",
    "success_rate",
    "episodes_finished",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clip_frac",
    "grad_norm",
    "lr",
    "env_steps",
)


# --- difference rewards -------------------------------------------------------------------------


def counterfactual_actions(action: jax.Array, default_action: int) -> jax.Array:
    """int32 ``[N, N]``: row ``i`` is the joint ``action [N]`` with agent ``i``'s replaced by
    ``default_action`` (the environment's no-op, :func:`rljax.multiagent.noop_action`)."""
    n = action.shape[-1]
    return jnp.where(jnp.eye(n, dtype=jnp.bool_), default_action, action[None, :]).astype(jnp.int32)


def counterfactual_rewards(
    env: Any, env_params: Any, key: jax.Array, state: Any, action: jax.Array
) -> jax.Array:
    """float32 ``[N]``: agent ``i``'s reward had it taken the no-op and the others ``action``.

    One environment (``state`` unbatched, ``action [N]``); the ``N`` counterfactual steps are one
    vmapped call from the same ``state`` with the same ``key``.
    """
    step = lambda a: env.step(key, state, a, env_params)[2]
    # [N (replaced agent), N]
    rewards = jax.vmap(step)(counterfactual_actions(action, noop_action(env)))
    return jnp.diagonal(rewards).astype(jnp.float32)


def difference_rewards(
    env: Any, env_params: Any, key: jax.Array, state: Any, action: jax.Array
) -> jax.Array:
    """float32 ``[N]``: ``D_i = r_i(state, action) - r_i(state, action with a_i := no-op)``.

    With a shared team reward ``G`` this is ``G(all) - G(all with agent i staying)``: in Treasure
    Hunt, +10 for a treasure only agent ``i`` reached this step, -1 for its own bump, 0 for the
    step cost and for what the others did.
    """
    reward = env.step(key, state, action, env_params)[2].astype(jnp.float32)
    return reward - counterfactual_rewards(env, env_params, key, state, action)


# --- networks over agents -----------------------------------------------------------------------


class _Setup(NamedTuple):
    env: Any
    env_params: Any
    venv: VecEnv
    num_agents: int
    obs_dim: int
    global_dim: int
    num_actions: int
    groups: tuple[np.ndarray, ...]  # agent indices of each parameter group
    inverse: np.ndarray | None  # agent order from the groups' concatenation (None: identity)
    actor: Actor
    critic: Critic


def parameter_groups(config: Config, env: Any) -> tuple[np.ndarray, ...]:
    """The agents of each parameter set: one per team with sharing, else one per agent."""
    n = int(env.num_agents)
    if not config.share_parameters:
        return tuple(np.asarray([i]) for i in range(n))
    teams = np.asarray(getattr(env, "team_of_agent", np.zeros(n, np.int32)))
    return tuple(np.flatnonzero(teams == t) for t in np.unique(teams))


def _setup(config: Config) -> _Setup:
    env, env_params = make(config.env_id, **dict(config.env_kwargs))
    obs_space = env.observation_space(env_params)
    n = int(env.num_agents)
    groups = parameter_groups(config, env)
    order = np.concatenate(groups)
    inverse = None if np.array_equal(order, np.arange(n)) else np.argsort(order)
    return _Setup(
        env=env,
        env_params=env_params,
        venv=VecEnv(MultiAgentView(env), config.num_envs),
        num_agents=n,
        obs_dim=int(obs_space.shape[-1]),
        global_dim=int(env.global_state_size(env_params)),
        num_actions=int(np.max(env.action_space(env_params).nvec)),
        groups=groups,
        inverse=inverse,
        actor=Actor(
            int(np.max(env.action_space(env_params).nvec)),
            False,
            config.hidden_sizes,
            config.activation,
        ),
        critic=Critic(config.hidden_sizes, config.activation),
    )


def _with_agent_id(config: Config, x: jax.Array) -> jax.Array:
    """``x [..., N, F]`` with a one-hot agent id appended when parameters are shared."""
    if not config.share_parameters:
        return x
    n = x.shape[-2]
    ids = jnp.broadcast_to(jnp.eye(n, dtype=x.dtype), (*x.shape[:-2], n, n))
    return jnp.concatenate([x, ids], axis=-1)


def actor_inputs(config: Config, obs: jax.Array) -> jax.Array:
    """``obs [..., N, D]`` (as the policy sees it) -> actor inputs ``[..., N, D (+ N)]``."""
    return _with_agent_id(config, obs)


def critic_inputs(config: Config, obs: jax.Array, global_state: jax.Array) -> jax.Array:
    """Critic inputs ``[..., N, F]`` from ``obs [..., N, D]`` and ``global_state [..., G]``.

    Independent critic: agent ``i``'s observation; centralised: the global state (the same for
    every agent); then the one-hot agent id when parameters are shared.
    """
    if config.critic == "independent":
        x = obs
    else:
        x = jnp.broadcast_to(global_state[..., None, :], (*obs.shape[:-1], global_state.shape[-1]))
    return _with_agent_id(config, x)


def _per_group(setup: _Setup, fn, params, x: jax.Array, axis: int) -> jax.Array:
    """``fn(params[g], x[..., agents of g, :])`` for every group, put back in agent order."""
    outs = [fn(p, x[..., idx, :]) for p, idx in zip(params, setup.groups, strict=True)]
    out = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=axis)
    if setup.inverse is not None:
        out = jnp.take(out, setup.inverse, axis=axis)
    return out


def _logits(setup: _Setup, actor_params, x: jax.Array) -> jax.Array:
    """``[..., N, F] -> logits [..., N, A]``."""
    return _per_group(setup, lambda p, xi: setup.actor.apply(p, xi)[0], actor_params, x, -2)


def _values(setup: _Setup, critic_params, x: jax.Array) -> jax.Array:
    """``[..., N, F] -> values [..., N]``."""
    return _per_group(setup, setup.critic.apply, critic_params, x, -1)


def _normalize(config: Config, stats: RunningMeanStd, x: jax.Array) -> jax.Array:
    return stats.normalize(x) if config.normalize_obs else x


# --- training -----------------------------------------------------------------------------------


def make_init(config: Config) -> Callable[..., TrainState]:
    """``init(key, hparams=None) -> TrainState``: networks, optimiser and environments."""
    setup = _setup(config)

    def init(key: jax.Array, hparams: HParams | None = None) -> TrainState:
        hparams = config.hparams() if hparams is None else hparams
        key, key_actor, key_critic, key_env = jax.random.split(key, 4)
        n = setup.num_agents
        actor_in = actor_inputs(config, jnp.zeros((n, setup.obs_dim), jnp.float32))
        critic_in = critic_inputs(
            config,
            jnp.zeros((n, setup.obs_dim), jnp.float32),
            jnp.zeros((setup.global_dim,), jnp.float32),
        )
        num_groups = len(setup.groups)
        params = {
            "actor": tuple(
                setup.actor.init(k, actor_in[0]) for k in jax.random.split(key_actor, num_groups)
            ),
            "critic": tuple(
                setup.critic.init(k, critic_in[0]) for k in jax.random.split(key_critic, num_groups)
            ),
        }
        obs, env_state = setup.venv.reset(key_env, setup.env_params)
        flat_params, _ = ravel_pytree(params)
        return TrainState(
            params=params,
            opt_state=optim.make_optimizer(hparams.max_grad_norm, config.adam_eps).init(
                flat_params
            ),
            env_state=env_state,
            obs=obs,
            key=key,
            update_step=jnp.int32(0),
            obs_stats=RunningMeanStd.create((setup.obs_dim,)),
            global_stats=RunningMeanStd.create((setup.global_dim,)),
        )

    return init


def make_update_chunk(config: Config, num_updates: int) -> Callable[..., tuple[TrainState, dict]]:
    """``chunk(state, hparams=None) -> (state, metrics)``: ``num_updates`` updates.

    ``metrics`` maps each of :data:`METRIC_NAMES` to a ``[num_updates]`` array.
    """
    update = _make_update(config, _setup(config))

    def chunk(state: TrainState, hparams: HParams | None = None):
        hparams = config.hparams() if hparams is None else hparams
        return jax.lax.scan(lambda s, _: update(s, hparams), state, None, num_updates)

    return chunk


def make_train(config: Config) -> Callable[..., TrainResult]:
    """``train(key, hparams=None) -> TrainResult``: a whole run, ready for ``jit`` and ``vmap``."""
    init = make_init(config)
    chunk = make_update_chunk(config, config.num_updates)

    def train(key: jax.Array, hparams: HParams | None = None) -> TrainResult:
        state = init(key, hparams)
        state, metrics = chunk(state, hparams)
        return TrainResult(state.params, metrics, state)

    return train


class Transition(NamedTuple):
    obs: jax.Array  # [T, B, N, D] raw
    global_state: jax.Array  # [T, B, G] raw
    action: jax.Array  # [T, B, N]
    log_prob: jax.Array  # [T, B, N]
    reward: jax.Array  # [T, B, N], the learning reward (shared or difference), unscaled
    terminated: jax.Array  # [T, B]
    truncated: jax.Array  # [T, B]
    final_obs: jax.Array  # [T, B, N, D]
    final_global: jax.Array  # [T, B, G]
    episode_return: jax.Array  # [T, B] team return of the episode finished at this step
    episode_length: jax.Array  # [T, B]
    episode_done: jax.Array  # [T, B]


def make_rollout(config: Config) -> Callable[[TrainState, jax.Array], tuple[Any, Transition]]:
    """``rollout(state, key) -> ((vec_env_state, next_obs), batch)``: one update's experience.

    ``batch`` is a :class:`Transition` of ``[num_steps, num_envs, ...]`` arrays; its ``reward``
    is what the agents learn from (the environment's, or difference rewards).
    """
    return _make_rollout(config, _setup(config))


def _policy_obs(config: Config, state: TrainState, obs: jax.Array) -> jax.Array:
    return actor_inputs(config, _normalize(config, state.obs_stats, obs))


def _make_rollout(config: Config, setup: _Setup):
    venv, env, env_params = setup.venv, setup.env, setup.env_params
    n = setup.num_agents
    T, B = config.num_steps, config.num_envs

    def counterfactual(key: jax.Array, env_states: Any, action: jax.Array) -> jax.Array:
        # The keys VecEnv.step hands each environment, so the counterfactual sees the same key.
        if env.stochastic_step:
            step_keys, axis = jax.random.split(jax.random.split(key)[0], B), 0
        else:
            step_keys, axis = key, None
        return jax.vmap(
            lambda k, s, a: counterfactual_rewards(env, env_params, k, s, a),
            in_axes=(axis, 0, 0),
        )(step_keys, env_states, action)

    def rollout(state: TrainState, key: jax.Array):
        # Sampling noise for the whole rollout is drawn before the loop (Gumbel-max, as in PPO).
        key_noise, key_env = jax.random.split(key)
        noise = distributions.gumbel_noise(key_noise, (T, B, n, setup.num_actions))
        env_keys = jax.random.split(key_env, T)

        def step(carry, inputs):
            vec_state, obs = carry
            noise_t, key_t = inputs
            logits = _logits(setup, state.params["actor"], _policy_obs(config, state, obs["obs"]))
            action = distributions.categorical_sample(logits, noise_t)
            log_prob = distributions.categorical_log_prob(logits, action)
            if config.credit == "difference":
                counter = counterfactual(key_t, vec_state.env_state, action)
            next_obs, vec_state, _, terminated, truncated, info = venv.step(
                key_t, vec_state, action, env_params
            )
            reward = info["agent_reward"]
            if config.credit == "difference":
                reward = reward - counter
            transition = Transition(
                obs=obs["obs"],
                global_state=obs["global"],
                action=action,
                log_prob=log_prob,
                reward=reward,
                terminated=terminated,
                truncated=truncated,
                final_obs=info["final_obs"]["obs"],
                final_global=info["final_obs"]["global"],
                episode_return=info["episode_return"],
                episode_length=info["episode_length"],
                episode_done=info["episode_done"],
            )
            return (vec_state, next_obs), transition

        carry, batch = jax.lax.scan(step, (state.env_state, state.obs), (noise, env_keys))
        return carry, batch

    return rollout


def _make_update(config: Config, setup: _Setup):
    n = setup.num_agents
    T, B = config.num_steps, config.num_envs
    rollout = _make_rollout(config, setup)

    def policy_obs(state: TrainState, obs: jax.Array) -> jax.Array:
        return _policy_obs(config, state, obs)

    def value_inputs(state: TrainState, obs: jax.Array, global_state: jax.Array) -> jax.Array:
        return critic_inputs(
            config,
            _normalize(config, state.obs_stats, obs),
            _normalize(config, state.global_stats, global_state),
        )

    def loss_fn(params, minibatch, hparams: HParams):
        actor_x, critic_x, action, old_log_prob, old_value, advantage, target = minibatch
        logits = _logits(setup, params["actor"], actor_x)  # [M, N, A]
        log_prob, entropy = distributions.categorical_log_prob_entropy(logits, action)  # [M, N]
        value = _values(setup, params["critic"], critic_x)  # [M, N]
        total = jnp.float32(0.0)
        diagnostics = []
        for idx in setup.groups:  # one PPO loss per parameter group (its own advantage scale)
            pick = lambda x, idx=idx: x[:, idx].reshape(-1)
            group_total, group_diag = ppo.ppo_loss(
                pick(log_prob),
                pick(old_log_prob),
                pick(entropy),
                pick(value),
                pick(old_value),
                pick(advantage),
                pick(target),
                hparams,
                config.clip_value_loss,
            )
            total = total + group_total
            diagnostics.append((len(idx) / n, group_diag))
        aux = {
            name: sum(w * d[name] for w, d in diagnostics) for name in diagnostics[0][1]
        }  # agent-weighted mean over groups
        return total, aux

    def update(state: TrainState, hparams: HParams):
        key, key_rollout = jax.random.split(state.key)
        (vec_state, next_obs), batch = rollout(state, key_rollout)

        # One critic call over the rollout: obs[0..T-1], the next obs, and the final obs of
        # episodes that ended in the rollout (bootstrapped where truncated).
        stacked_obs = jnp.concatenate(
            [
                batch.obs.reshape(T * B, n, -1),
                next_obs["obs"],
                batch.final_obs.reshape(T * B, n, -1),
            ]
        )
        stacked_global = jnp.concatenate(
            [
                batch.global_state.reshape(T * B, -1),
                next_obs["global"],
                batch.final_global.reshape(T * B, -1),
            ]
        )
        values = _values(
            setup, state.params["critic"], value_inputs(state, stacked_obs, stacked_global)
        )  # [2TB + B, N]
        value = values[: T * B].reshape(T, B * n)
        next_value = values[T * B : T * B + B].reshape(B * n)
        final_value = values[T * B + B :].reshape(T, B * n)
        per_agent = lambda x: jnp.broadcast_to(x[..., None], (T, B, n)).reshape(T, B * n)
        advantages, targets = returns.compute_gae(
            batch.reward.reshape(T, B * n) * config.reward_scale,
            value,
            next_value,
            final_value,
            per_agent(batch.terminated),
            per_agent(batch.truncated),
            hparams.gamma,
            hparams.gae_lambda,
        )

        flat = (
            policy_obs(state, batch.obs.reshape(T * B, n, -1)),
            value_inputs(
                state, batch.obs.reshape(T * B, n, -1), batch.global_state.reshape(T * B, -1)
            ),
            batch.action.reshape(T * B, n),
            batch.log_prob.reshape(T * B, n),
            value.reshape(T * B, n),
            advantages.reshape(T * B, n),
            targets.reshape(T * B, n),
        )
        params, opt_state, key, aux, lr = ppo.optimise(
            config, loss_fn, hparams, state.params, state.opt_state, state.update_step, key, flat
        )

        obs_stats, global_stats = state.obs_stats, state.global_stats
        if config.normalize_obs:
            obs_stats = obs_stats.update(batch.obs.reshape(T * B * n, -1))
            global_stats = global_stats.update(batch.global_state.reshape(T * B, -1))

        metrics = ppo.update_metrics(
            config,
            aux,
            lr,
            state.update_step,
            batch.episode_done,
            episode_return=batch.episode_return,
            episode_length=batch.episode_length.astype(jnp.float32),
            success_rate=batch.terminated.astype(jnp.float32),  # of the finished episodes
        )
        new_state = TrainState(
            params=params,
            opt_state=opt_state,
            env_state=vec_state,
            obs=next_obs,
            key=key,
            update_step=state.update_step + 1,
            obs_stats=obs_stats,
            global_stats=global_stats,
        )
        return new_state, {name: metrics[name] for name in METRIC_NAMES}

    return update


# --- acting and evaluation ----------------------------------------------------------------------


def normalize_for_policy(config: Config, state: TrainState, obs: jax.Array) -> jax.Array:
    """``obs [..., N, D]`` as the policy saw it in training (normalised if ``normalize_obs``)."""
    return _normalize(config, state.obs_stats, obs)


def make_policy(config: Config) -> Callable[[Any, jax.Array, jax.Array, bool], jax.Array]:
    """``act(params, obs [..., N, D], key, deterministic) -> action int32 [..., N]``.

    ``obs`` must already be normalised if the config normalises observations (see
    :func:`normalize_for_policy`). ``deterministic`` takes each agent's most likely action.
    """
    setup = _setup(config)

    def act(params, obs, key, deterministic: bool = True):
        logits = _logits(setup, params["actor"], actor_inputs(config, obs))
        if deterministic:
            return distributions.categorical_mode(logits)
        return distributions.categorical_sample(
            logits, distributions.gumbel_noise(key, logits.shape)
        )

    return act


def episode_policy(config: Config, state: TrainState, deterministic: bool = True) -> Policy:
    """One environment's ``policy(key, env_state, obs [N, D]) -> action int32 [N]`` of a trained
    ``state`` (one seed), for :mod:`rljax.learning.episodes`: greedy or sampled."""
    act = make_policy(config)

    def policy(key: jax.Array, env_state: Any, obs: jax.Array) -> jax.Array:
        return act(state.params, normalize_for_policy(config, state, obs), key, deterministic)

    return policy


def make_evaluate(
    config: Config, num_episodes: int, deterministic: bool = True, max_steps: int | None = None
) -> Callable[[TrainState, jax.Array], dict[str, jax.Array]]:
    """``evaluate(train_state, key) -> {"team_return", "length", "success"}`` (each ``[E]``).

    Plays ``num_episodes`` fresh episodes with one seed's trained policy (greedy with
    ``deterministic``, else sampled); see :func:`rljax.multiagent.run_episodes`. Vmappable over
    seeds; :func:`rljax.multiagent.episode_summary` turns the result into figures.
    """
    env, env_params = make(config.env_id, **dict(config.env_kwargs))

    def evaluate(train_state: TrainState, key: jax.Array) -> dict[str, jax.Array]:
        policy = episode_policy(config, train_state, deterministic)
        return run_episodes(env, env_params, policy, key, num_episodes, max_steps)

    return evaluate


# --- evaluation hooks (rljax eval) -------------------------------------------------------------

# Jitted evaluation programs, one per static config and settings (rljax eval calls repeatedly).
_PROGRAMS = ProgramCache()


def evaluate_policy(
    config: Config, state: TrainState, episodes: int, key: jax.Array, max_steps: int
) -> dict[str, Any]:
    """Figures of ``episodes`` episodes of one seed's ``state``, greedy and sampled (host values).

    ``{"returns": float64 [E], "lengths": int32 [E]}`` (team return and length of the greedy
    episodes), ``"success_rate"`` and ``"mean_steps"`` of the greedy ones, and ``"sampled"``: the
    sampled policy's :func:`rljax.multiagent.episode_summary`. Both play from the same ``key``
    (:func:`make_evaluate`); compiled once per static config.
    """

    def build():
        greedy = make_evaluate(config, episodes, True, max_steps)
        sampled = make_evaluate(config, episodes, False, max_steps)
        return jax.jit(lambda s, k: {"greedy": greedy(s, k), "sampled": sampled(s, k)})

    evaluate = _PROGRAMS.get(config, ("evaluate", episodes, max_steps), build)
    figures = jax.device_get(evaluate(state, key))
    greedy = episode_summary(figures["greedy"])
    return {
        "returns": np.asarray(figures["greedy"]["team_return"], np.float64),
        "lengths": np.asarray(figures["greedy"]["length"]),
        "success_rate": greedy["success_rate"],
        "mean_steps": greedy["mean_steps"],
        "sampled": episode_summary(figures["sampled"]),
    }


def record_episode(
    config: Config, state: TrainState, key: jax.Array, max_steps: int
) -> tuple[int, dict[str, Any]]:
    """``(length, trajectory)`` of one greedy episode from ``key`` (host arrays): actions and
    rewards ``[T, N]``, the trajectory as :mod:`rljax.render` draws it."""
    env, env_params = make(config.env_id, **dict(config.env_kwargs))

    def build():
        return jax.jit(
            lambda s, k: play_episode(
                env, env_params, episode_policy(config, s), k, max_steps, record=True
            )
        )

    result = jax.device_get(_PROGRAMS.get(config, ("record", max_steps), build)(state, key))
    return int(result["length"]), result["trajectory"]


def run_title(config: Config) -> str:
    """``"IPPO"`` with independent critics, else ``"MAPPO"``."""
    return "IPPO" if config.critic == "independent" else "MAPPO"


ALGORITHM = Algorithm(
    name="mappo",
    title="MAPPO",
    summary="multi-agent PPO: IPPO / MAPPO, shared or difference-reward credit",
    description="Train multi-agent PPO (IPPO with --critic independent, MAPPO with --critic "
    "centralised; shared or difference-reward credit) on several seeds at once (one vmapped XLA "
    "program), in compiled chunks with progress, metrics, checkpoints and resume. Writes "
    "RUN_DIR/config.json, metrics.jsonl, checkpoints/, curve.png (team return) and "
    "success.png (fraction of finished episodes that terminated: every treasure collected, "
    "a catch in Tag).",
    examples=(
        "rljax train mappo --env TreasureHunt-v0 --critic centralised",
        "rljax train mappo --env TreasureHunt-v0 --critic independent --credit difference",
        "rljax train mappo --preset treasure_hunt --seeds 8",
        "rljax train mappo --env Tag-v0 --total-timesteps 1e6",
        "rljax train mappo --resume runs/TreasureHunt-v0-mappo-20250101-120000",
        "rljax eval runs/TreasureHunt-v0-mappo-20250101-120000 --episodes 100 --json",
    ),
    config_cls=Config,
    presets=PRESETS,
    metric_names=METRIC_NAMES,
    make_init=make_init,
    make_update_chunk=make_update_chunk,
    title_of=run_title,
    evaluate_policy=evaluate_policy,
    record_episode=record_episode,
    summary_metrics=("success_rate",),
    curves={"success_rate": "success.png"},
)
