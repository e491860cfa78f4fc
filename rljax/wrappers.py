"""Per-environment wrappers. Each is an :class:`~rljax.env.Environment` around another one.

Typical stack for training with ``jax.vmap`` over environments::

    env, params = rljax.make("CartPole-v1")
    env = EpisodeStatistics(AutoReset(env))

Order matters: ``EpisodeStatistics`` and ``NormalizeObservation`` go *outside* ``AutoReset`` (they
must see episodes end); ``DomainRandomization`` goes *inside* it (it draws new parameters at every
reset). For thousands of environments, :class:`rljax.vector.VecEnv` does auto-reset and episode
statistics at the batch level, with far less random-number work per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from rljax import spaces
from rljax.env import Environment, StepResult
from rljax.learning.running_stats import RunningMeanStd


class Wrapper(Environment):
    """Delegates everything to the wrapped environment; subclasses override what they change."""

    def __init__(self, env: Environment):
        self._env = env
        self.stochastic_step = env.stochastic_step

    @property
    def default_params(self) -> Any:
        return self._env.default_params

    def validate_params(self, params: Any) -> None:
        self._env.validate_params(params)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        return self._env.reset(key, params)

    def step_env(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        return self._env.step(key, state, action, params)

    def observation_space(self, params: Any) -> spaces.Space:
        return self._env.observation_space(params)

    def action_space(self, params: Any) -> spaces.Space:
        return self._env.action_space(params)

    @property
    def name(self) -> str:
        return self._env.name

    @property
    def unwrapped(self) -> Environment:
        return self._env.unwrapped

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._env!r})"

    # Wrappers are static configuration: equal when they wrap equal things the same way, so that
    # ``jax.jit(static_argnums=...)`` caches across instances.
    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), self._env))


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """``pred ? on_true : on_false`` leaf by leaf; ``pred`` is a scalar bool."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class AutoReset(Wrapper):
    """Resets inside ``step`` when an episode ends (Gymnasium's same-step semantics).

    On the step that ends an episode, the returned observation and state are those of the new
    episode, ``reward``/``terminated``/``truncated`` are those of the transition that ended the old
    one, and ``info["final_obs"]`` holds the old episode's last observation (on other steps it is
    the returned observation), so that code bootstrapping through truncation can use it.
    """

    def step_env(self, key: jax.Array, state: Any, action: jax.Array, params: Any) -> StepResult:
        if self._env.stochastic_step:
            key_step, key_reset = jax.random.split(key)
        else:
            # The transition ignores its key: the reset may have it whole (saves a split per step).
            key_step = key_reset = key
        obs, next_state, reward, terminated, truncated, info = self._env.step(
            key_step, state, action, params
        )
        done = terminated | truncated
        reset_obs, reset_state = self._env.reset(key_reset, params)
        info = {**info, "final_obs": obs}
        obs, next_state = _select(done, (reset_obs, reset_state), (obs, next_state))
        return obs, next_state, reward, terminated, truncated, info


@struct.dataclass
class EpisodeStatisticsState:
    env_state: Any
    episode_return: jax.Array  # running return of the current episode, float32
    episode_length: jax.Array  # running length of the current episode, int32
    returned_episode_return: jax.Array  # return of the last finished episode (0 before any)
    returned_episode_length: jax.Array  # length of the last finished episode (0 before any)


def update_episode_statistics(
    state: EpisodeStatisticsState, env_state: Any, reward: jax.Array, done: jax.Array
) -> tuple[EpisodeStatisticsState, dict[str, jax.Array]]:
    """Folds one step into the statistics; works elementwise, for one env or a batch ``[B]``.

    Returns the new state (holding ``env_state``) and the ``info`` entries ``episode_return``,
    ``episode_length`` (of the last finished episode) and ``episode_done``.
    """
    ret = state.episode_return + reward.astype(jnp.float32)
    length = state.episode_length + 1
    new_state = EpisodeStatisticsState(
        env_state=env_state,
        episode_return=jnp.where(done, 0.0, ret),
        episode_length=jnp.where(done, 0, length),
        returned_episode_return=jnp.where(done, ret, state.returned_episode_return),
        returned_episode_length=jnp.where(done, length, state.returned_episode_length),
    )
    info = {
        "episode_return": new_state.returned_episode_return,
        "episode_length": new_state.returned_episode_length,
        "episode_done": done,
    }
    return new_state, info


class EpisodeStatistics(Wrapper):
    """Tracks per-environment episode return and length; wrap it around :class:`AutoReset`.

    Adds to ``info``: ``episode_return``/``episode_length`` (of the last finished episode) and
    ``episode_done`` (this step finished one), so a training loop can average the returns of
    episodes finished in an update with ``sum(ret * done) / sum(done)``.
    """

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, EpisodeStatisticsState]:
        obs, env_state = self._env.reset(key, params)
        zero_f, zero_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return obs, EpisodeStatisticsState(env_state, zero_f, zero_i, zero_f, zero_i)

    def step_env(self, key, state: EpisodeStatisticsState, action, params) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, params
        )
        new_state, stats = update_episode_statistics(
            state, env_state, reward, terminated | truncated
        )
        return obs, new_state, reward, terminated, truncated, {**info, **stats}


@struct.dataclass
class NormalizeObservationState:
    env_state: Any
    stats: RunningMeanStd  # of the observations seen so far (obs shape, float32)


class NormalizeObservation(Wrapper):
    """Normalises observations to zero mean and unit variance with running statistics in the state.

    Each observation (reset and step alike) is folded into the statistics
    (:class:`rljax.learning.running_stats.RunningMeanStd`, a batch of one) before it is
    normalised, as Gymnasium's ``NormalizeObservation`` does; ``info["final_obs"]`` (if present)
    is normalised with the same statistics. The result is clipped to ``[-clip, clip]``
    (``clip=None`` disables it). Under ``jax.vmap`` every environment keeps its own statistics.
    """

    def __init__(self, env: Environment, epsilon: float = 1e-8, clip: float | None = 10.0):
        super().__init__(env)
        self.epsilon = float(epsilon)
        self.clip = None if clip is None else float(clip)

    def _normalize(self, obs: jax.Array, stats: RunningMeanStd) -> jax.Array:
        return stats.normalize(obs, self.clip, self.epsilon).astype(jnp.float32)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, NormalizeObservationState]:
        obs, env_state = self._env.reset(key, params)
        obs = jnp.asarray(obs, jnp.float32)
        stats = RunningMeanStd.create(obs.shape).update(obs[None])
        return self._normalize(obs, stats), NormalizeObservationState(env_state, stats)

    def step_env(self, key, state: NormalizeObservationState, action, params) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, params
        )
        obs = jnp.asarray(obs, jnp.float32)
        stats = state.stats.update(obs[None])
        if "final_obs" in info:
            info = {**info, "final_obs": self._normalize(info["final_obs"], stats)}
        obs = self._normalize(obs, stats)
        return obs, NormalizeObservationState(env_state, stats), reward, terminated, truncated, info

    def observation_space(self, params: Any) -> spaces.Box:
        shape = self._env.observation_space(params).shape
        bound = np.inf if self.clip is None else self.clip
        return spaces.Box(-bound, bound, shape, jnp.float32)

    def __hash__(self) -> int:
        return hash((type(self), self._env, self.epsilon, self.clip))


@struct.dataclass
class DomainRandomizationState:
    env_state: Any
    params: Any  # the parameters drawn for the current episode


class DomainRandomization(Wrapper):
    """Draws numeric ``EnvParams`` leaves uniformly from given ranges at every reset.

    ``ranges`` maps a parameter name to ``(low, high)``; the episode then runs with those
    parameters, kept in the state (``state.params``). Put it inside :class:`AutoReset` so every new
    episode gets new parameters. Example::

        env = AutoReset(DomainRandomization(env, {"masspole": (0.05, 0.5), "length": (0.3, 0.8)}))
    """

    def __init__(self, env: Environment, ranges: Mapping[str, tuple[float, float]]):
        super().__init__(env)
        if not ranges:
            raise ValueError("DomainRandomization needs at least one parameter range")
        fields = set(type(env.default_params).__dataclass_fields__)
        for name, bounds in ranges.items():
            if name not in fields:
                raise ValueError(
                    f"cannot randomise {name!r}: not a parameter of {env.name}. "
                    f"Allowed: {', '.join(sorted(fields))}"
                )
            low, high = bounds
            if not low <= high:
                raise ValueError(f"range for {name!r} must have low <= high, got ({low}, {high})")
        self.ranges = tuple(sorted((k, (float(v[0]), float(v[1]))) for k, v in ranges.items()))

    def sample_params(self, key: jax.Array, params: Any) -> Any:
        """Returns ``params`` with each randomised field drawn from its range."""
        keys = jax.random.split(key, len(self.ranges))
        drawn = {}
        for k, (name, (low, high)) in zip(keys, self.ranges, strict=True):
            base = jnp.asarray(getattr(params, name))
            value = jax.random.uniform(k, base.shape, jnp.float32, low, high)
            drawn[name] = (
                value.astype(base.dtype)
                if jnp.issubdtype(base.dtype, jnp.floating)
                else (jnp.round(value).astype(base.dtype))
            )
        return params.replace(**drawn)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, DomainRandomizationState]:
        key_params, key_reset = jax.random.split(key)
        episode_params = self.sample_params(key_params, params)
        obs, env_state = self._env.reset(key_reset, episode_params)
        return obs, DomainRandomizationState(env_state, episode_params)

    def step_env(self, key, state: DomainRandomizationState, action, params) -> StepResult:
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, state.params
        )
        return obs, state.replace(env_state=env_state), reward, terminated, truncated, info

    def __hash__(self) -> int:
        return hash((type(self), self._env, self.ranges))


class FlattenObservation(Wrapper):
    """Reshapes observations (and ``info["final_obs"]``) to one dimension ``[prod(shape)]``."""

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        obs, state = self._env.reset(key, params)
        return jnp.ravel(obs), state

    def step_env(self, key, state, action, params) -> StepResult:
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        if "final_obs" in info:
            info = {**info, "final_obs": jnp.ravel(info["final_obs"])}
        return jnp.ravel(obs), state, reward, terminated, truncated, info

    def observation_space(self, params: Any) -> spaces.Box:
        inner = self._env.observation_space(params)
        size = int(np.prod(inner.shape))
        if isinstance(inner, spaces.Box):
            return spaces.Box(jnp.ravel(inner.low), jnp.ravel(inner.high), (size,), inner.dtype)
        raise TypeError(f"FlattenObservation needs a Box observation space, got {inner!r}")
