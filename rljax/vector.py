"""``VecEnv``: a batch of environments stepped as one, with auto-reset and episode statistics.

Why not just ``jax.vmap(AutoReset(env).step)``? Under ``vmap`` a reset is a ``select``: every
environment computes a fresh reset state (and draws its random numbers) on every step, although
only the few whose episode ended need one. On a CPU that random-number work costs more than the
physics. ``VecEnv`` instead counts the environments that finished, draws reset states for just
that many (in chunks of ``reset_chunk`` inside a ``while_loop``) and hands them out by rank. It also
skips per-environment step keys for deterministic environments (``env.stochastic_step = False``).

Semantics match :class:`rljax.wrappers.AutoReset` (Gymnasium's same-step auto-reset, terminal
observation in ``info["final_obs"]``) and :class:`rljax.wrappers.EpisodeStatistics`, except that
which reset state an environment receives depends on the batch (it is still a deterministic
function of the key, and every reset draws independent randomness).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rljax import spaces
from rljax.env import Environment, make
from rljax.wrappers import EpisodeStatisticsState, update_episode_statistics

# The batch keeps the same statistics as the per-env wrapper, with leaves of shape [B]:
# env_state (leaves [B, ...]), episode_return, episode_length, returned_episode_return and
# returned_episode_length.
VecEnvState = EpisodeStatisticsState


class VecEnv:
    """``num_envs`` copies of ``env`` sharing one ``params``, stepped together.

    ``reset(key, params) -> (obs [B, ...], state)`` and
    ``step(key, state, action [B, ...], params) -> (obs, state, reward [B], terminated [B],
    truncated [B], info)`` each take ONE key for the whole batch. ``info`` holds ``final_obs``
    ``[B, ...]`` plus ``episode_return``/``episode_length`` (of each env's last finished episode)
    and ``episode_done`` ``[B]`` (an episode ended this step), along with the environment's own
    info entries stacked over the batch.
    """

    def __init__(self, env: Environment, num_envs: int, reset_chunk: int = 128):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if int(reset_chunk) < 1:
            raise ValueError(f"reset_chunk must be >= 1, got {reset_chunk}")
        self.env = env
        self.num_envs = int(num_envs)
        self.reset_chunk = min(int(reset_chunk), self.num_envs)

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def observation_space(self, params: Any) -> spaces.Space:
        """The space of ONE environment's observation (the batch adds a leading axis)."""
        return self.env.observation_space(params)

    def action_space(self, params: Any) -> spaces.Space:
        """The space of ONE environment's action (the batch adds a leading axis)."""
        return self.env.action_space(params)

    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, VecEnvState]:
        params = self.env.default_params if params is None else params
        keys = jax.random.split(key, self.num_envs)
        obs, env_state = jax.vmap(self.env.reset, in_axes=(0, None))(keys, params)
        zeros_f = jnp.zeros((self.num_envs,), jnp.float32)
        zeros_i = jnp.zeros((self.num_envs,), jnp.int32)
        return obs, VecEnvState(env_state, zeros_f, zeros_i, zeros_f, zeros_i)

    def step(
        self, key: jax.Array, state: VecEnvState, action: Any, params: Any = None
    ) -> tuple[Any, VecEnvState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        params = self.env.default_params if params is None else params
        self._check_batch(action, params)
        if self.env.stochastic_step:
            key_step, key_reset = jax.random.split(key)
            step_keys, key_axis = jax.random.split(key_step, self.num_envs), 0
        else:
            # The transition ignores its key: no per-env split, and the resets get the key whole.
            step_keys, key_axis, key_reset = key, None, key
        obs, env_state, reward, terminated, truncated, info = jax.vmap(
            self.env.step, in_axes=(key_axis, 0, 0, None)
        )(step_keys, state.env_state, action, params)
        done = terminated | truncated

        reset_obs, reset_state = self._draw_resets(key_reset, done, params)
        select = lambda new, old: jnp.where(_expand(done, new), new, old)
        next_obs = jax.tree.map(select, reset_obs, obs)
        env_state = jax.tree.map(select, reset_state, env_state)

        new_state, stats = update_episode_statistics(state, env_state, reward, done)
        info = {**info, "final_obs": obs, **stats}
        return next_obs, new_state, reward, terminated, truncated, info

    def _draw_resets(self, key: jax.Array, done: jax.Array, params: Any) -> tuple[Any, Any]:
        """Reset (obs, state) for every env, valid where ``done``: only ``sum(done)`` are drawn.

        The i-th finished environment (in batch order) gets the i-th drawn reset state; chunks of
        ``reset_chunk`` are drawn, each from its own key, until all finished envs are covered.
        """
        chunk = self.reset_chunk
        num_chunks_max = -(-self.num_envs // chunk)
        reset_chunk = jax.vmap(self.env.reset, in_axes=(0, None))

        def draw(i: jax.Array) -> tuple[Any, Any]:
            return reset_chunk(jax.random.split(jax.random.fold_in(key, i), chunk), params)

        if num_chunks_max == 1:
            # One chunk covers the batch: no ranks needed, draw when anything finished.
            pool = jax.lax.cond(
                jnp.any(done), draw, lambda i: _zeros_like_shape(jax.eval_shape(draw, i)), 0
            )
            return pool

        rank = _inclusive_cumsum(done.astype(jnp.int32)) - 1  # [B], the i-th finished env gets i
        num_chunks = (rank[-1] + chunk) // chunk  # ceil(num_done / chunk)
        pool_shape = jax.eval_shape(draw, 0)
        pool = jax.tree.map(
            lambda s: jnp.zeros((num_chunks_max * chunk, *s.shape[1:]), s.dtype), pool_shape
        )

        def body(carry):
            i, pool = carry
            drawn = draw(i)
            pool = jax.tree.map(
                lambda p, d: jax.lax.dynamic_update_slice_in_dim(p, d, i * chunk, axis=0),
                pool,
                drawn,
            )
            return i + 1, pool

        _, pool = jax.lax.while_loop(lambda c: c[0] < num_chunks, body, (jnp.int32(0), pool))
        index = jnp.clip(rank, 0, num_chunks_max * chunk - 1)
        return jax.tree.map(lambda p: p[index], pool)

    def _check_batch(self, action: Any, params: Any) -> None:
        leaves = jax.tree.leaves(action)
        space = self.env.action_space(params)
        for leaf in leaves:
            shape = jnp.shape(leaf)
            if shape[:1] != (self.num_envs,):
                raise TypeError(
                    f"VecEnv of {self.num_envs} envs needs actions of shape "
                    f"{(self.num_envs, *space.shape)} for {space!r}, got shape {shape}"
                )


def _expand(mask: jax.Array, like: jax.Array) -> jax.Array:
    """``mask [B]`` reshaped to broadcast against ``like [B, ...]``."""
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


def _zeros_like_shape(tree: Any) -> Any:
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), tree)


def _inclusive_cumsum(x: jax.Array) -> jax.Array:
    # An associative scan is several times faster than XLA:CPU's cumsum (a reduce-window).
    return jax.lax.associative_scan(jnp.add, x)


def make_vec(env_id: str, num_envs: int, **overrides: Any) -> tuple[VecEnv, Any]:
    """``make`` then :class:`VecEnv`: ``venv, params = make_vec("CartPole-v1", 1024)``."""
    env, params = make(env_id, **overrides)
    return VecEnv(env, num_envs), params
