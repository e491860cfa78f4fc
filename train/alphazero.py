"""AlphaZero-style self-play with Gumbel MuZero search (mctx), compiled end to end.

One iteration, as one XLA program:

1. **Self-play.** ``selfplay_games`` games are played in lockstep from the opening by the current
   *best* network (AlphaGo Zero's data generator), each move chosen by
   ``mctx.gumbel_muzero_policy`` with the game itself as the model (:mod:`rljax.games.search`).
   The loop stops as soon as every game has ended. With ``random_opening_plies = K`` each game
   first plays a random number (0..K) of uniformly random moves, which are not learned from:
   self-play alone rarely visits the positions a weak or odd opponent creates, and an agent that
   must answer *every* reply (the Tic-Tac-Toe target) has to have seen them. Each position keeps
   the search's ``action_weights`` (policy target) and, once its game is over, the final outcome
   from the mover's view (value target). Whole games are played inside one iteration, so every
   stored position has its true outcome and nothing is cut off at a window's edge.
2. **Replay.** Positions go into a ring buffer of the most recent ``replay_size``; finished-game
   slots are compacted first so no space is spent on padding.
3. **Learning.** ``train_steps`` Adam(W) steps on uniform minibatches from the replay: softmax cross
   entropy to the search policy plus squared error to the outcome. With ``mirror`` each sample is
   reflected left-right with probability 1/2 (both games are symmetric under it), which doubles
   the data for free.
4. **Gate** (every ``gate_every`` iterations): the trained *candidate* plays the *best* network,
   both searching with ``gate_simulations``, half the games with each colour; the candidate
   replaces the best only if it scores at least ``gate_threshold`` (AlphaGo Zero's 55 %).

``train = jax.jit(alphazero.make_train(config)); result = train(key)`` runs a whole training run;
``make_init`` and ``make_iterations(config, n)`` give the same run in chunks (bitwise the same) for
the CLI, which adds progress, checkpoints and evaluation against the baselines between chunks.
On a multi-core CPU the CLI runs :class:`ParallelIterations` instead: the same iterations, bitwise,
as separate programs, with the ``selfplay_groups`` self-play groups and the gate's two halves each
running side by side on their own cores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from rljax.configs import ConfigBase, field
from rljax.env import make
from rljax.games import game_ids
from rljax.games.search import GameModel
from rljax.networks import PolicyValueMLP, PolicyValueResNet

NETWORKS = ("mlp", "resnet")


@dataclasses.dataclass(frozen=True)
class Config(ConfigBase):
    """AlphaZero settings. Defaults are sized for a 2-core CPU and Connect Four.

    They are the settings of the measured 20-minute Connect Four runs in benchmarks/RESULTS.md
    (0.96–1.00 against depth-4 minimax and 0.91–0.97 against UCT-1000 in two seeds, searching 64
    simulations a move, with the self-play groups side by side on the 2 cores).
    """

    # Runs saved before the field existed played self-play as one group.
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {"selfplay_groups": 1}

    env_id: str = field("ConnectFour-v0", "two-player game (also --env)")
    network: str = field("mlp", "policy-value network: mlp (CPU) or resnet (GPU/TPU)")
    hidden_sizes: tuple[int, ...] = field((256, 256, 256), "MLP hidden layer sizes")
    channels: int = field(64, "resnet channels")
    num_blocks: int = field(4, "resnet residual blocks")
    selfplay_games: int = field(512, "games played in parallel per iteration")
    # The split is part of the result (each group has its own random stream). One program vmaps
    # over the groups; on a CPU the CLI plays each on its own core (see ParallelIterations).
    selfplay_groups: int = field(
        2,
        "self-play games split into this many groups, each with its own random stream; on a "
        "multi-core CPU the groups play side by side, one per core",
    )
    num_simulations: int = field(16, "search simulations per self-play move")
    max_num_considered_actions: int = field(16, "Gumbel MuZero root actions considered")
    gumbel_scale: float = field(1.0, "root Gumbel noise in self-play")
    # Self-play then sees positions its own play would never reach, which opponents do reach.
    random_opening_plies: int = field(
        6, "each self-play game opens with 0..N uniformly random moves (not learned from)"
    )
    replay_size: int = field(200_000, "positions kept in the replay buffer")
    batch_size: int = field(512, "training minibatch size")
    train_steps: int = field(96, "gradient steps per iteration")
    lr: float = field(1e-3, "AdamW learning rate (the peak, with --lr-decay-iterations)")
    # Measured on Connect Four (20 minutes, decay over 360 of 410 iterations): 0.877 against
    # UCT-1000, no better than constant (0.892).
    lr_decay_iterations: int = field(0, "iterations of cosine learning-rate decay (0: constant)")
    lr_final_fraction: float = field(
        0.1, "learning rate at the end of the decay, as a fraction of --lr"
    )
    weight_decay: float = field(1e-4, "AdamW weight decay")
    max_grad_norm: float = field(1.0, "global gradient-norm clip")
    mirror: bool = field(True, "reflect sampled positions left-right (symmetry augmentation)")
    num_iterations: int = field(100, "iterations to run (without --minutes)")
    gate_every: int = field(5, "iterations between arena gates")
    # 64 games passed weak candidates.
    gate_games: int = field(128, "games per gate (half with each colour)")
    gate_simulations: int = field(32, "search simulations per move in the gate")
    gate_threshold: float = field(0.55, "score the candidate needs to replace the best network")

    def validate(self) -> None:
        fail = self.fail
        if self.env_id not in game_ids():
            fail("env_id", f"must be a two-player board game: one of {', '.join(game_ids())}")
        if self.network not in NETWORKS:
            fail("network", f"must be one of {', '.join(NETWORKS)}")
        positive = (
            "channels",
            "num_blocks",
            "selfplay_games",
            "selfplay_groups",
            "num_simulations",
            "max_num_considered_actions",
            "batch_size",
            "train_steps",
            "num_iterations",
            "gate_every",
            "gate_simulations",
        )
        for name in positive:
            if getattr(self, name) < 1:
                fail(name, "must be an integer >= 1")
        if self.selfplay_games % self.selfplay_groups:
            fail("selfplay_groups", f"must divide selfplay_games={self.selfplay_games}")
        if self.gate_games < 2 or self.gate_games % 2:
            fail("gate_games", "must be an even integer >= 2 (half the games with each colour)")
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            fail("hidden_sizes", "must be a non-empty sequence of sizes >= 1")
        if self.random_opening_plies < 0:
            fail("random_opening_plies", "must be an integer >= 0")
        if self.lr_decay_iterations < 0:
            fail("lr_decay_iterations", "must be an integer >= 0 (0: constant learning rate)")
        if not 0.0 <= self.lr_final_fraction <= 1.0:
            fail("lr_final_fraction", "must be in [0, 1]")
        if self.replay_size < self.positions_per_iteration:
            fail(
                "replay_size",
                f"must hold one iteration: >= selfplay_games * max plies = "
                f"{self.positions_per_iteration}",
            )
        if not self.lr > 0:
            fail("lr", "must be > 0")
        for name in ("weight_decay", "gumbel_scale"):
            if not getattr(self, name) >= 0:
                fail(name, "must be >= 0")
        if not self.max_grad_norm > 0:
            fail("max_grad_norm", "must be > 0")
        if not 0.0 <= self.gate_threshold <= 1.0:
            fail("gate_threshold", "must be in [0, 1]")

    @property
    def max_plies(self) -> int:
        env, _ = make(self.env_id)
        return env.rows * env.cols

    @property
    def positions_per_iteration(self) -> int:
        return self.selfplay_games * self.max_plies

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """The config of a ``to_dict`` mapping (older runs get :attr:`LEGACY_DEFAULTS`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown AlphaZero config fields {unknown}; allowed: {sorted(names)}")
        return super().from_dict(values)


@struct.dataclass
class Replay:
    obs: jax.Array  # float32 [R, rows, cols, 2]
    policy: jax.Array  # float32 [R, A]: search action weights
    value: jax.Array  # float32 [R]: final outcome from the mover's view
    valid: jax.Array  # bool [R]: slot holds a position
    pointer: jax.Array  # int32 []: next slot to write


@struct.dataclass
class AZState:
    params: Any  # the candidate, trained every iteration
    best_params: Any  # plays self-play; replaced when the candidate wins the gate
    opt_state: Any
    replay: Replay
    key: jax.Array
    iteration: jax.Array  # int32 []: iterations done


class TrainResult(NamedTuple):
    params: Any  # the best network at the end
    metrics: dict[str, jax.Array]  # [num_iterations] each
    state: AZState


class Setup(NamedTuple):
    env: Any
    network: Any
    model: GameModel


def make_network(config: Config, num_actions: int) -> Any:
    if config.network == "mlp":
        return PolicyValueMLP(num_actions, config.hidden_sizes)
    return PolicyValueResNet(num_actions, config.channels, config.num_blocks)


def setup(config: Config) -> Setup:
    env, _ = make(config.env_id)
    network = make_network(config, env.num_actions)
    return Setup(env, network, GameModel.for_env(env, network.apply))


def learning_rate(config: Config) -> float | optax.Schedule:
    """``config.lr``, or its cosine decay over ``lr_decay_iterations`` iterations' gradient steps.

    The schedule counts optimiser steps, which the optimiser state keeps: a resumed run continues
    the decay where it stopped.
    """
    if config.lr_decay_iterations == 0:
        return config.lr
    return optax.cosine_decay_schedule(
        config.lr,
        config.lr_decay_iterations * config.train_steps,
        alpha=config.lr_final_fraction,
    )


def _optimizer(config: Config) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adamw(learning_rate(config), weight_decay=config.weight_decay),
    )


def batched_init(env: Any, batch: int) -> Any:
    """``batch`` fresh games (every leaf with a leading ``[batch]`` axis)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (batch, *x.shape)), env.init())


def make_init(config: Config) -> Callable[[jax.Array], AZState]:
    env, network, _ = setup(config)
    rows, cols, actions = env.rows, env.cols, env.num_actions

    def init(key: jax.Array) -> AZState:
        key, key_params = jax.random.split(key)
        params = network.init(key_params, jnp.zeros((1, rows, cols, 2), jnp.float32))
        R = config.replay_size
        replay = Replay(
            obs=jnp.zeros((R, rows, cols, 2), jnp.float32),
            policy=jnp.zeros((R, actions), jnp.float32),
            value=jnp.zeros((R,), jnp.float32),
            valid=jnp.zeros((R,), bool),
            pointer=jnp.int32(0),
        )
        return AZState(
            params=params,
            best_params=params,
            opt_state=_optimizer(config).init(params),
            replay=replay,
            key=key,
            iteration=jnp.int32(0),
        )

    return init


def mirror_policy(env: Any, policy: jax.Array) -> jax.Array:
    """Reflects action-indexed arrays ``[..., A]`` left-right (columns, or cells row by row)."""
    if env.num_actions == env.cols:
        return jnp.flip(policy, -1)
    shape = policy.shape[:-1]
    return jnp.flip(policy.reshape(*shape, env.rows, env.cols), -1).reshape(*shape, -1)


def make_selfplay_group(config: Config, model: GameModel, env: Any):
    """``play(params, key) -> (positions, stats)``: one self-play group, ``Bg = selfplay_games /
    selfplay_groups`` whole games.

    ``positions`` holds ``obs [T, Bg, rows, cols, 2]``, ``policy [T, Bg, A]``, ``value [T, Bg]`` and
    ``valid [T, Bg]`` with ``T`` the most plies a game can take; ``stats`` are scalars.
    """
    B, T = config.selfplay_games // config.selfplay_groups, config.max_plies

    def play(params: Any, key: jax.Array):
        key, key_opening = jax.random.split(key)
        opening_plies = jax.random.randint(key_opening, (B,), 0, config.random_opening_plies + 1)
        states = batched_init(env, B)
        obs = jnp.zeros((T, B, env.rows, env.cols, 2), jnp.float32)
        policy = jnp.zeros((T, B, env.num_actions), jnp.float32)
        mover = jnp.zeros((T, B), jnp.int32)
        valid = jnp.zeros((T, B), bool)
        returns = jnp.zeros((B, 2), jnp.float32)

        def cond(carry):
            t, states = carry[0], carry[1]
            return (t < T) & ~jnp.all(states.terminated)

        def body(carry):
            t, states, obs, policy, mover, valid, returns = carry
            out = model.search(
                params,
                jax.random.fold_in(key, t),
                states,
                config.num_simulations,
                config.max_num_considered_actions,
                config.gumbel_scale,
            )
            action = out.action
            learn_from = ~states.terminated
            if config.random_opening_plies:
                opening = t < opening_plies
                uniform = jnp.where(states.legal_action_mask, 0.0, -jnp.inf)
                random_move = jax.random.categorical(jax.random.fold_in(key_opening, t), uniform)
                action = jnp.where(opening, random_move, action)
                learn_from = learn_from & ~opening
            obs = obs.at[t].set(model.observe(states))
            policy = policy.at[t].set(out.action_weights)
            mover = mover.at[t].set(states.current_player)
            valid = valid.at[t].set(learn_from)
            states = model.step(states, action)
            return t + 1, states, obs, policy, mover, valid, returns + states.rewards

        carry = (jnp.int32(0), states, obs, policy, mover, valid, returns)
        plies, states, obs, policy, mover, valid, returns = jax.lax.while_loop(cond, body, carry)
        value = jnp.take_along_axis(returns, mover.T, axis=1).T  # [T, B], mover's outcome
        stats = {
            "game_length": states.step_count.mean(),  # plies, random openings included
            "first_player_score": (returns[:, 0].mean() + 1.0) / 2.0,
            "draw_rate": (returns[:, 0] == 0).mean(),
            "selfplay_plies": plies,
        }
        return (obs, policy, value, valid), stats

    return play


def merge_groups(positions: tuple[jax.Array, ...], stats: dict[str, jax.Array]):
    """The self-play groups' outputs stacked on a leading ``[G]`` axis, as one batch of games.

    Returns ``positions`` flattened to ``[T * B, ...]`` in ply-major order (game ``g * Bg + j`` is
    group ``g``'s ``j``-th), as if all ``B`` games had been one group, and the stats over all games.
    """

    def flat(x: jax.Array) -> jax.Array:  # [G, T, Bg, ...] -> [T * G * Bg, ...]
        x = jnp.moveaxis(x, 0, 1)
        return x.reshape(x.shape[0] * x.shape[1] * x.shape[2], *x.shape[3:])

    merged = {name: value.mean() for name, value in stats.items()}  # equal group sizes
    merged["selfplay_plies"] = stats["selfplay_plies"].max()
    return tuple(flat(x) for x in positions), merged


def make_selfplay(config: Config, model: GameModel, env: Any):
    """``selfplay(params, key) -> (positions, stats)``: ``selfplay_games`` whole games, the
    ``selfplay_groups`` groups vmapped in one program.

    ``positions`` holds ``obs [T * B, rows, cols, 2]``, ``policy [T * B, A]``, ``value [T * B]`` and
    ``valid [T * B]`` with ``T`` the most plies a game can take (ply-major: row ``t * B + b``).
    """
    play = jax.vmap(make_selfplay_group(config, model, env), in_axes=(None, 0))

    def selfplay(params: Any, key: jax.Array):
        return merge_groups(*play(params, _group_keys(key, config)))

    return selfplay


def add_to_replay(replay: Replay, positions: tuple[jax.Array, ...]) -> Replay:
    """Writes the valid positions at the ring pointer (compacted first) and advances it."""
    obs, policy, value, valid = positions
    order = jnp.argsort(~valid, stable=True)  # valid rows first, in play order
    n = valid.sum(dtype=jnp.int32)
    size = replay.valid.shape[0]
    slots = (replay.pointer + jnp.arange(valid.shape[0], dtype=jnp.int32)) % size
    # Padding rows are written too (as invalid) and are overwritten by the next write.
    return Replay(
        obs=replay.obs.at[slots].set(obs[order]),
        policy=replay.policy.at[slots].set(policy[order]),
        value=replay.value.at[slots].set(value[order]),
        valid=replay.valid.at[slots].set(valid[order]),
        pointer=(replay.pointer + n) % size,
    )


def az_loss(network: Any, params: Any, obs, policy, value, weight):
    """Cross entropy to the search policy + squared error to the outcome, ``weight``-averaged."""
    logits, predicted = network.apply(params, obs)
    policy_loss = optax.softmax_cross_entropy(logits, policy)
    value_loss = jnp.square(predicted - value)
    norm = jnp.maximum(weight.sum(), 1.0)
    policy_loss = (policy_loss * weight).sum() / norm
    value_loss = (value_loss * weight).sum() / norm
    return policy_loss + value_loss, (policy_loss, value_loss)


def make_learn(config: Config, network: Any, env: Any):
    optimizer = _optimizer(config)
    grad_fn = jax.grad(lambda p, *batch: az_loss(network, p, *batch), has_aux=True)

    def learn(params, opt_state, replay: Replay, key: jax.Array):
        def step(carry, key):
            params, opt_state = carry
            key_idx, key_flip = jax.random.split(key)
            idx = jax.random.randint(key_idx, (config.batch_size,), 0, replay.valid.shape[0])
            obs, policy = replay.obs[idx], replay.policy[idx]
            if config.mirror:
                flip = jax.random.bernoulli(key_flip, 0.5, (config.batch_size,))
                obs = jnp.where(flip[:, None, None, None], jnp.flip(obs, 2), obs)
                policy = jnp.where(flip[:, None], mirror_policy(env, policy), policy)
            weight = replay.valid[idx].astype(jnp.float32)
            grads, (policy_loss, value_loss) = grad_fn(
                params, obs, policy, replay.value[idx], weight
            )
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), (policy_loss, value_loss)

        keys = jax.random.split(key, config.train_steps)
        (params, opt_state), (policy_loss, value_loss) = jax.lax.scan(
            step, (params, opt_state), keys
        )
        return (
            params,
            opt_state,
            {"policy_loss": policy_loss.mean(), "value_loss": value_loss.mean()},
        )

    return learn


def make_search_player(
    model: GameModel, params: Any, num_simulations: int, gumbel_scale: float = 0.0
) -> Callable[[jax.Array, Any], jax.Array]:
    """``act(key, states [B]) -> actions int32 [B]`` by Gumbel MuZero search with ``params``.

    ``gumbel_scale=0`` makes the search deterministic (the usual choice at evaluation in
    perfect-information games); the gate keeps noise so its games differ.
    """

    def act(key: jax.Array, states: Any) -> jax.Array:
        out = model.search(params, key, states, num_simulations, gumbel_scale=gumbel_scale)
        return out.action.astype(jnp.int32)

    return act


def make_gate_games(config: Config, model: GameModel, env: Any):
    """``games(first, second, key) -> outcomes int32 [gate_games / 2]``: half of a gate.

    Both networks search with ``gate_simulations`` and root noise (so the games differ); ``first``
    always moves first. ``+1`` where it won, ``0`` a draw, ``-1`` a loss.
    """
    from rljax.games.arena import play_games

    def games(first: Any, second: Any, key: jax.Array) -> jax.Array:
        act_first = make_search_player(model, first, config.gate_simulations, gumbel_scale=1.0)
        act_second = make_search_player(model, second, config.gate_simulations, gumbel_scale=1.0)
        return play_games(env, act_first, act_second, key, config.gate_games // 2)

    return games


def gate_score(as_first: jax.Array, as_second: jax.Array) -> jax.Array:
    """The candidate's score in ``[0, 1]`` from the two halves' outcomes (first player's view)."""
    outcomes = jnp.concatenate([as_first, -as_second]).astype(jnp.float32)
    return (outcomes.mean() + 1.0) / 2.0


def make_gate(config: Config, model: GameModel, env: Any):
    """``gate(candidate, best, key) -> score`` of the candidate in ``[0, 1]`` over both colours."""
    games = make_gate_games(config, model, env)

    def gate(candidate: Any, best: Any, key: jax.Array) -> jax.Array:
        key_a, key_b = jax.random.split(key)
        return gate_score(games(candidate, best, key_a), games(best, candidate, key_b))

    return gate


def iteration_keys(key: jax.Array, config: Config):
    """One iteration's keys from the state's: ``(next key, self-play group keys [G], learning key,
    gate key)``."""
    key, key_play, key_learn, key_gate = jax.random.split(key, 4)
    return key, _group_keys(key_play, config), key_learn, key_gate


def _group_keys(key: jax.Array, config: Config) -> jax.Array:
    """``[G]`` keys for the self-play groups; one group plays with ``key`` itself (as runs did
    before groups existed, so they resume exactly)."""
    if config.selfplay_groups == 1:
        return key[None]
    return jax.random.split(key, config.selfplay_groups)


def make_learn_stage(config: Config, network: Any, env: Any):
    """``learn_stage(params, opt_state, replay, group_positions, group_stats, key)`` ->
    ``(params, opt_state, replay, metrics)``: the self-play groups' outputs (stacked ``[G, ...]``)
    into the replay, then ``train_steps`` gradient steps on it."""
    learn = make_learn(config, network, env)

    def learn_stage(params, opt_state, replay: Replay, group_positions, group_stats, key):
        positions, stats = merge_groups(group_positions, group_stats)
        replay = add_to_replay(replay, positions)
        params, opt_state, losses = learn(params, opt_state, replay, key)
        metrics = {**stats, **losses, "replay_positions": replay.valid.sum()}
        return params, opt_state, replay, metrics

    return learn_stage


def finish_iteration(
    config: Config,
    best_params: Any,
    iteration: jax.Array,
    key: jax.Array,
    params: Any,
    opt_state: Any,
    replay: Replay,
    metrics: dict[str, jax.Array],
    score: jax.Array,
) -> tuple[AZState, dict[str, jax.Array]]:
    """The next state: the candidate replaces the best where the gate (``score``; NaN when no gate
    was due) reached ``gate_threshold``."""
    due = (iteration + 1) % config.gate_every == 0
    promote = due & (score >= config.gate_threshold)
    best = jax.tree.map(lambda c, b: jnp.where(promote, c, b), params, best_params)
    state = AZState(
        params=params,
        best_params=best,
        opt_state=opt_state,
        replay=replay,
        key=key,
        iteration=iteration + 1,
    )
    return state, {**metrics, "gate_score": score, "best_replaced": promote}


def make_iterations(config: Config, num_iterations: int) -> Callable[[AZState], tuple[Any, dict]]:
    """``run(state) -> (state, metrics)``: ``num_iterations`` iterations; metrics ``[n]`` each."""
    env, network, model = setup(config)
    play_groups = jax.vmap(make_selfplay_group(config, model, env), in_axes=(None, 0))
    learn_stage = make_learn_stage(config, network, env)
    gate = make_gate(config, model, env)

    def iteration(state: AZState, _):
        key, group_keys, key_learn, key_gate = iteration_keys(state.key, config)
        positions, stats = play_groups(state.best_params, group_keys)
        params, opt_state, replay, metrics = learn_stage(
            state.params, state.opt_state, state.replay, positions, stats, key_learn
        )
        due = (state.iteration + 1) % config.gate_every == 0
        score = jax.lax.cond(
            due, lambda: gate(params, state.best_params, key_gate), lambda: jnp.float32(jnp.nan)
        )
        learned = (params, opt_state, replay, metrics)
        return finish_iteration(config, state.best_params, state.iteration, key, *learned, score)

    def run(state: AZState):
        return jax.lax.scan(iteration, state, None, length=num_iterations)

    return run


class ParallelIterations:
    """:func:`make_iterations` driven from the host, with independent work on separate CPU cores.

    An iteration runs as separately compiled programs: the ``selfplay_groups`` self-play groups
    side by side, one thread each, then the learning step, then (when due) the gate's two halves
    side by side. XLA:CPU runs one program's chain of small operations on about one core, so this
    plays about 1.7x the games per second of :func:`make_iterations` on a 2-core CPU. The result
    is bitwise the same as :func:`make_iterations` (tested), so a run may switch between them.

    ``run = ParallelIterations(config, n); state, metrics = run(state)``: ``metrics`` are numpy
    arrays ``[n]``. The input state's replay buffer is donated (reused in place): do not use the
    input state after the call.
    """

    def __init__(self, config: Config, num_iterations: int):
        if not isinstance(num_iterations, int) or num_iterations < 1:
            raise ValueError(f"num_iterations={num_iterations!r} is invalid: allowed >= 1")
        env, network, model = setup(config)
        self.config = config
        self.num_iterations = num_iterations

        def keys(key: jax.Array):
            # The gate's key split in two as make_gate splits it, one key per half.
            key, group_keys, key_learn, key_gate = iteration_keys(key, config)
            return key, group_keys, key_learn, jax.random.split(key_gate)

        self._keys = jax.jit(keys)
        self._play = jax.jit(make_selfplay_group(config, model, env))
        learn_stage = make_learn_stage(config, network, env)

        def learn_from_groups(params, opt_state, replay, groups, key):
            positions, stats = jax.tree.map(lambda *xs: jnp.stack(xs), *groups)
            return learn_stage(params, opt_state, replay, positions, stats, key)

        self._learn = jax.jit(learn_from_groups, donate_argnums=2)
        self._gate_games = jax.jit(make_gate_games(config, model, env))
        self._gate_score = jax.jit(gate_score)
        self._finish = jax.jit(lambda *args: finish_iteration(config, *args))
        self._compiled = False

    def compile(self, state: AZState) -> None:
        """Compiles every program ahead of the first iteration (nothing of ``state`` is used up)."""
        if self._compiled:
            return
        key, group_keys, key_learn, (key_a, _) = self._keys(state.key)
        groups = [jax.eval_shape(self._play, state.best_params, group_keys[0])]
        groups *= self.config.selfplay_groups
        learn_args = (state.params, state.opt_state, state.replay, groups, key_learn)
        learned = jax.eval_shape(self._learn, *learn_args)
        half = jax.eval_shape(self._gate_games, state.params, state.best_params, key_a)
        score = jax.eval_shape(self._gate_score, half, half)
        self._keys = self._keys.lower(state.key).compile()
        self._play = self._play.lower(state.best_params, group_keys[0]).compile()
        self._learn = self._learn.lower(*learn_args).compile()
        self._gate_games = self._gate_games.lower(state.params, state.best_params, key_a).compile()
        self._gate_score = self._gate_score.lower(half, half).compile()
        finish_args = (state.best_params, state.iteration, key, *learned, score)
        self._finish = self._finish.lower(*finish_args).compile()
        self._compiled = True

    def __call__(self, state: AZState) -> tuple[AZState, dict[str, Any]]:
        import numpy as np

        rows = []
        iteration = int(state.iteration)
        for _ in range(self.num_iterations):
            state, metrics = self._iteration(
                state, gate_due=(iteration + 1) % self.config.gate_every == 0
            )
            rows.append(metrics)
            iteration += 1
        return state, jax.tree.map(lambda *xs: np.stack(xs), *jax.device_get(rows))

    def _iteration(self, state: AZState, gate_due: bool) -> tuple[AZState, dict[str, Any]]:
        from functools import partial

        from rljax.multicore import run_parallel

        key, group_keys, key_learn, (key_a, key_b) = self._keys(state.key)
        best = state.best_params
        groups = run_parallel([partial(self._play, best, k) for k in group_keys])
        params, opt_state, replay, metrics = self._learn(
            state.params, state.opt_state, state.replay, groups, key_learn
        )
        if gate_due:
            halves = [
                partial(self._gate_games, params, best, key_a),
                partial(self._gate_games, best, params, key_b),
            ]
            score = self._gate_score(*run_parallel(halves))
        else:
            score = jnp.float32(jnp.nan)
        return self._finish(best, state.iteration, key, params, opt_state, replay, metrics, score)


def make_train(config: Config) -> Callable[[jax.Array], TrainResult]:
    """``train(key) -> TrainResult``: a whole run (``num_iterations``), ready for ``jit``."""
    init = make_init(config)
    run = make_iterations(config, config.num_iterations)

    def train(key: jax.Array) -> TrainResult:
        state, metrics = run(init(key))
        return TrainResult(state.best_params, metrics, state)

    return train


def checkpoint_target(config: Config) -> dict[str, Any]:
    """The structure of a run's checkpoint (shapes only), for ``rljax.checkpoint.restore``.

    A checkpoint holds ``{"state": AZState, "iteration": int, "train_seconds": float}``.
    """
    import numpy as np

    state = jax.eval_shape(make_init(config), jax.random.key(0))
    return {"state": state, "iteration": np.int32(0), "train_seconds": np.float32(0)}
