"""MAPPO's rollout: ``num_steps`` joint steps of ``num_envs`` environments with every agent's
action sampled from its group's policy (noise drawn ahead), and with ``credit="difference"`` the
counterfactual no-op steps that give each agent its difference reward
(:mod:`rljax.train.mappo.credit`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from rljax.learning import distributions
from rljax.train.mappo.config import Config
from rljax.train.mappo.credit import counterfactual_rewards
from rljax.train.mappo.groups import Setup, actor_inputs, group_logits, make_setup, normalize
from rljax.train.mappo.state import TrainState, Transition


def make_rollout(config: Config) -> Callable[[TrainState, jax.Array], tuple[Any, Transition]]:
    """``rollout(state, key) -> ((vec_env_state, next_obs), batch)``: one update's experience.

    ``batch`` is a :class:`Transition` of ``[num_steps, num_envs, ...]`` arrays; its ``reward``
    is what the agents learn from (the environment's, or difference rewards).
    """
    return build_rollout(config, make_setup(config))


def policy_inputs(config: Config, state: TrainState, obs: jax.Array) -> jax.Array:
    """Actor inputs ``[..., N, D (+ N)]`` from raw ``obs [..., N, D]``, normalised with the
    state's running statistics if ``normalize_obs``."""
    return actor_inputs(config, normalize(config, state.obs_stats, obs))


def build_rollout(config: Config, setup: Setup) -> Callable[..., tuple[Any, Transition]]:
    """:func:`make_rollout` on an already built ``setup``."""
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
            lambda k, s, a: counterfactual_rewards(env, env_params, k, s, a), in_axes=(axis, 0, 0)
        )(step_keys, env_states, action)

    def rollout(state: TrainState, key: jax.Array):
        # Sampling noise for the whole rollout is drawn before the loop (Gumbel-max, as in PPO).
        key_noise, key_env = jax.random.split(key)
        noise = distributions.gumbel_noise(key_noise, (T, B, n, setup.num_actions))
        env_keys = jax.random.split(key_env, T)

        def step(carry, inputs):
            vec_state, obs = carry
            noise_t, key_t = inputs
            logits = group_logits(
                setup, state.params["actor"], policy_inputs(config, state, obs["obs"])
            )
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
