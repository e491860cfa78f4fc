"""rljax's SAC, TD3 and DQN against Stable-Baselines3 (PyTorch, CPU) and sbx (SB3 in JAX).

One process runs all three on the same task, step budget and hyperparameters (issue 14,
section 6): SAC and TD3 on Pendulum-v1, DQN on CartPole-v1. rljax runs its own environments
(which match Gymnasium's transition by transition); SB3 and sbx run Gymnasium's. Every
hyperparameter is taken from the rljax config and handed to the peers (:func:`sb3_kwargs`):
network sizes, batch size, learning_starts, buffer size, train_freq, gradient steps, learning
rate, gamma, tau, the entropy temperature's start and target (SAC), the policy delay and the
noises (TD3), the epsilon schedule, target-update period, gradient clip and Adam epsilon (DQN).
The SAC/TD3 comparison runs one environment for everyone (``num_envs=1``); DQN runs the
``cartpole`` preset's four, SB3's and sbx's as a ``DummyVecEnv`` of four (SB3 counts
``train_freq`` per vectorised step and the target period in env steps, so the schedules are
the same). Differences that remain: rljax clips each network's gradient norm at 100 (SAC/TD3;
SB3 and sbx do not clip), rljax learns once the buffer holds a batch (``learning_starts``
here is therefore at least the batch size), and the initialisations differ (orthogonal against
torch's and flax's defaults). The gradient steps each run took are counted and printed.

Timing, per seed, the three interleaved (rljax, SB3, sbx) so that load from other processes
hits all of them:

- rljax: ``jax.jit(make_train(config)).lower(key).compile()`` once (``compile_s``), then one
  call per seed (``run_s``; all outputs blocked on); the whole run is ``compile_s + run_s``.
- SB3: the model's construction plus ``learn(total_timesteps)``.
- sbx: the same; its jitted update compiles in the first seed's run (``cold``), the later seeds
  reuse it (``warm``). sbx's whole run is the cold one; its run time the warm median.

Figures are medians over seeds; ratios are rljax's speed over the peer's (``steps/s`` rows,
above 1 = rljax faster). Return: each run's greedy policy over ``--eval-episodes`` episodes
(rljax's evaluation hook on its env, SB3's ``evaluate_policy`` on Gymnasium's), and the last
training episodes (each env's last), so a broken peer configuration shows.

SAC and TD3 at SB3's sizes (256 x 256) are also set against their arithmetic floor
(:mod:`sac_floor`): the matrix products of one gradient step, timed here; the floor of a run is
its gradient steps times that. ``rljax/grad_step_s`` times rljax's own gradient step alone (a
scan of them on one fixed batch) with the FLOPs XLA counts in it.

Threads: numpy's OpenBLAS, torch's MKL/OpenMP and XLA all get this box's 2 cores
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` set before import,
``torch.set_num_threads(2)``). ``--threads 1`` gives numpy and torch one (XLA keeps the cores):
on a loaded box OpenMP's busy-waiting makes 2-thread torch several times slower than 1-thread.
``--steps`` and ``--seeds`` shorten the runs; ``--interleaved-floor ROUNDS`` only alternates
rljax's gradient step with the XLA floor's products (both then see the same load).
Prints one JSON line per measurement::

    python benchmarks/off_policy_peers.py --quick            # smoke check, about 2 minutes
    python benchmarks/off_policy_peers.py sac-256 sac-64     # SAC at 256 and 64 units
    python benchmarks/off_policy_peers.py                    # every case and both floors
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

# numpy's, torch's and MKL's threads, set before they start (--threads N; XLA takes the cores)
THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = str(THREADS)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from rljax.benchmarking import emit  # noqa: E402
from rljax.env import make  # noqa: E402
from rljax.learning.episodes import time_limit  # noqa: E402
from rljax.train import dqn, sac, td3  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sac_floor  # noqa: E402

GYM_IDS = {"Pendulum-v1": "Pendulum-v1", "CartPole-v1": "CartPole-v1"}


class Case(NamedTuple):
    """One comparison: an rljax config and how many seeds to run it for."""

    name: str
    family: str  # "sac", "td3" or "dqn"
    config: Any
    seeds: int


def make_cases(quick: bool, seeds: int | None) -> dict[str, Case]:
    """The comparisons by name. SAC/TD3: SB3's sizes (256 x 256, 5 k steps) and the presets'
    (64 x 64, 20 k steps), one env; DQN: the ``cartpole`` preset (128 x 128, 4 envs) at 50 k.
    ``quick``: 1 seed and about a fifth of the steps (a smoke check, not a figure)."""
    n = seeds or (1 if quick else 3)
    steps = {"256": 1_000, "64": 4_000, "td3": 2_000, "dqn": 10_000} if quick else {
        "256": 5_000, "64": 20_000, "td3": 5_000, "dqn": 50_000}  # fmt: skip
    # learning_starts 256 = the batch: rljax learns once the buffer holds a batch, SB3 from
    # learning_starts; equal from there on
    sac_common = dict(num_envs=1, lr=1e-3, buffer_size=100_000, batch_size=256,
                      learning_starts=256)  # fmt: skip
    td3_common = dict(num_envs=1, lr=1e-3, buffer_size=100_000, batch_size=256,
                      learning_starts=1_000)  # fmt: skip
    small = dict(hidden_sizes=(64, 64))
    dqn_preset = dqn.PRESETS["cartpole"]
    cases = [
        Case("sac-256", "sac", sac.Config(total_timesteps=steps["256"], **sac_common), n),
        Case("sac-64", "sac", sac.Config(total_timesteps=steps["64"], **small, **sac_common), n),
        Case("td3-256", "td3",
             td3.Config(total_timesteps=max(steps["256"], steps["td3"]), **td3_common), n),
        Case("td3-64", "td3", td3.Config(total_timesteps=steps["64"], **small, **td3_common), n),
        Case("dqn", "dqn", dataclasses.replace(dqn_preset, total_timesteps=steps["dqn"]), n),
    ]  # fmt: skip
    return {case.name: case for case in cases}


# ---------------------------------------------------------------------------------------------
# rljax


def rljax_module(family: str) -> Any:
    return {"sac": sac, "td3": td3, "dqn": dqn}[family]


class RljaxRun(NamedTuple):
    run_s: float
    grad_steps: int
    train_return: float
    greedy: np.ndarray  # [E] greedy episode returns


def rljax_compile(case: Case) -> tuple[Callable[[jax.Array], Any], float]:
    """``(compiled train(key), compile seconds)``."""
    train = rljax_module(case.family).make_train(case.config)
    start = time.perf_counter()
    compiled = jax.jit(train).lower(jax.random.key(0)).compile()
    return compiled, time.perf_counter() - start


def rljax_run(case: Case, compiled: Callable, seed: int, episodes: int) -> RljaxRun:
    """One seed's timed run, then its greedy evaluation (untimed)."""
    key = jax.random.key(seed)
    start = time.perf_counter()
    result = jax.block_until_ready(compiled(key))
    run_s = time.perf_counter() - start
    module = rljax_module(case.family)
    _, env_params = make(case.config.env_id)
    evaluation = module.evaluate_policy(
        case.config, result.state, episodes, jax.random.key(10_000 + seed), time_limit(env_params)
    )
    last = np.asarray(result.metrics["episode_return"])[-1]  # each env's last episode, mean
    return RljaxRun(run_s, int(result.state.grad_step), float(last), evaluation["returns"])


def rljax_grad_step(
    case: Case, steps: int = 200, repeats: int = 5, floor_thunk: Callable | None = None
) -> dict[str, float]:
    """rljax's own gradient step alone: ``steps`` of them scanned over one fixed random batch
    (median seconds per step over ``repeats``) and XLA's FLOP count of one. With
    ``floor_thunk`` (one call = the floor's products of one step or cycle) each repeat is
    followed by one floor call, so that both see the same load: ``floor_s`` is their median."""
    module = rljax_module(case.family)
    config = case.config
    setup = sac.make_setup(config)  # SAC's and TD3's (off_policy.make_setup)
    state = module.make_init(config)(jax.random.key(0))
    gradient_step = module.make_gradient_step(config, setup)
    hparams = config.hparams()
    B, A = config.batch_size, setup.action_dim
    keys = jax.random.split(jax.random.key(1), 3)
    obs = jax.random.normal(keys[0], (B, *setup.obs_shape))
    batch = sac.Transition(
        obs=obs,
        action=jax.random.uniform(keys[1], (B, A), minval=-1.0, maxval=1.0),
        reward=jax.random.normal(keys[2], (B,)),
        terminated=jnp.zeros((B,), bool),
        next_obs=obs + 0.01,
    )
    learner = (state.params, state.target_params, state.opt_state, state.grad_step)

    def one(learner, key):
        return gradient_step(learner, batch, hparams, key)

    def scanned(learner, key):
        return jax.lax.scan(one, learner, jax.random.split(key, steps))

    flops = jax.jit(one).lower(learner, keys[0]).compile().cost_analysis()
    flops = flops[0] if isinstance(flops, list) else flops  # a list in older jax versions
    compiled = jax.jit(scanned).lower(learner, keys[0]).compile()
    jax.block_until_ready(compiled(learner, keys[0]))
    times, floor_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(learner, keys[0]))
        times.append((time.perf_counter() - start) / steps)
        if floor_thunk is not None:
            start = time.perf_counter()
            floor_thunk()
            floor_times.append(time.perf_counter() - start)
    out = {"s_per_step": statistics.median(times), "xla_flops": float(flops.get("flops", 0.0))}
    if floor_times:
        out["floor_s"] = statistics.median(floor_times)
    return out


def interleaved_floor(case: Case, rounds: int) -> None:
    """rljax's gradient step (scans of 10) and the XLA floor's products, alternated ``rounds``
    times: on a loaded box both then share the same load (a lone short floor burst runs near
    full speed while minutes-long runs share the cores)."""
    c = case.config
    env, env_params = make(c.env_id)
    obs_dim = int(env.observation_space(env_params).shape[0])
    action_dim = int(env.action_space(env_params).shape[0])
    delay = getattr(c, "policy_delay", 1)
    gemms, per = sac_floor.step_gemms(
        case.family, c.batch_size, obs_dim, action_dim, c.hidden_sizes, delay
    )
    thunk = sac_floor.xla_products(sac_floor.operands(gemms))
    thunk()
    step = rljax_grad_step(case, steps=10, repeats=rounds, floor_thunk=thunk)
    sizes = "x".join(map(str, c.hidden_sizes))
    emit(
        f"{case.family}/hidden={sizes}/batch={c.batch_size}/grad_step_vs_xla_floor_interleaved",
        step["s_per_step"],
        step["floor_s"] / per,
        "s",
        rounds=rounds,
        flops=sum(g.flops for g in gemms) / per,
        load_1min=os.getloadavg()[0],
    )


def rljax_driver(case: Case) -> dict[str, float]:
    """One seed through the run driver (``rljax.run.train``, as ``rljax train`` runs it: chunks,
    metrics, checkpoints, evaluations) into a temporary run directory: its compile and train
    seconds and the wall-clock of the whole call."""
    import tempfile

    from rljax import run

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run.train(case.config, f"{tmp}/run", seeds=1, progress=False, log=lambda _: None)
        whole_s = time.perf_counter() - start
    if result.status != 0:
        raise RuntimeError(f"driver run ended with status {result.status}: {result.message}")
    return {
        "compile_s": result.compile_seconds,
        "train_s": result.train_seconds,
        "whole_s": whole_s,
    }


# ---------------------------------------------------------------------------------------------
# the peers


def sb3_kwargs(case: Case, seed: int, sbx: bool) -> dict[str, Any]:
    """The SB3 (or sbx) constructor arguments that match ``case.config``."""
    c = case.config
    common = dict(
        learning_rate=c.lr,
        buffer_size=c.buffer_size,
        learning_starts=c.learning_starts,
        batch_size=c.batch_size,
        gamma=c.gamma,
        train_freq=c.train_freq,
        gradient_steps=c.gradient_steps,
        seed=seed,
        verbose=0,
    )
    if not sbx:
        common["device"] = "cpu"
    if case.family == "sac":
        _, env_params = make(c.env_id)
        action_dim = int(make(c.env_id)[0].action_space(env_params).shape[0])
        return dict(
            common,
            tau=c.tau,
            ent_coef=f"auto_{c.alpha_init}" if c.autotune_alpha else c.alpha_init,
            target_entropy=-c.target_entropy_scale * action_dim,
            policy_kwargs=dict(net_arch=list(c.hidden_sizes)),
        )
    if case.family == "td3":
        from stable_baselines3.common.noise import NormalActionNoise

        _, env_params = make(c.env_id)
        action_dim = int(make(c.env_id)[0].action_space(env_params).shape[0])
        # SB3 adds the noise to the action scaled to [-1, 1], as rljax does
        noise = NormalActionNoise(np.zeros(action_dim), c.exploration_noise * np.ones(action_dim))
        return dict(
            common,
            tau=c.tau,
            policy_delay=c.policy_delay,
            target_policy_noise=c.target_policy_noise,
            target_noise_clip=c.target_noise_clip,
            action_noise=noise,
            policy_kwargs=dict(net_arch=list(c.hidden_sizes)),
        )
    # DQN: rljax counts the target period in gradient steps, SB3 in env steps
    env_steps_per_grad_step = c.steps_per_update // c.gradient_steps
    assert c.target_update == "hard" and not any(
        (c.double_q, c.dueling, c.prioritised, c.distributional, c.noisy, c.n_step > 1)
    ), "the peers run plain DQN"
    kwargs = dict(
        common,
        tau=1.0,
        target_update_interval=c.target_update_every * env_steps_per_grad_step,
        exploration_fraction=c.epsilon_decay,
        exploration_initial_eps=c.epsilon_start,
        exploration_final_eps=c.epsilon_finish,
        policy_kwargs=dict(net_arch=list(c.hidden_sizes), optimizer_kwargs=dict(eps=c.adam_eps)),
    )
    if not sbx:  # sbx's DQN does not clip gradients (the argument is commented out there)
        kwargs["max_grad_norm"] = c.max_grad_norm
    return kwargs


def gym_env(case: Case, seed: int) -> Any:
    """Gymnasium's env of the case, vectorised as SB3 does (``num_envs`` copies, ``Monitor``)."""
    from stable_baselines3.common.env_util import make_vec_env

    return make_vec_env(GYM_IDS[case.config.env_id], n_envs=case.config.num_envs, seed=seed)


class PeerRun(NamedTuple):
    run_s: float
    grad_steps: int
    train_return: float
    greedy: np.ndarray


def peer_run(case: Case, peer: str, seed: int, episodes: int) -> PeerRun:
    """One seed of SB3 or sbx: construction plus ``learn``, timed; then greedy evaluation."""
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    if peer == "sb3":
        import stable_baselines3 as lib
    else:
        import sbx as lib
    cls = {"sac": lib.SAC, "td3": lib.TD3, "dqn": lib.DQN}[case.family]
    env = gym_env(case, seed)
    start = time.perf_counter()
    model = cls("MlpPolicy", env, **sb3_kwargs(case, seed, sbx=peer == "sbx"))
    model.learn(total_timesteps=case.config.total_timesteps)
    run_s = time.perf_counter() - start
    eval_env = Monitor(gym.make(GYM_IDS[case.config.env_id]))
    eval_env.reset(seed=10_000 + seed)
    returns, _ = evaluate_policy(
        model, eval_env, n_eval_episodes=episodes, deterministic=True, return_episode_rewards=True
    )
    recent = [info["r"] for info in list(model.ep_info_buffer)[-case.config.num_envs :]]
    train_return = float(np.mean(recent)) if recent else float("nan")
    return PeerRun(run_s, int(model._n_updates), train_return, np.asarray(returns, np.float64))


# ---------------------------------------------------------------------------------------------
# the comparison


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def bench_case(
    case: Case, peers: list[str], episodes: int, floor: bool, repeats: int, driver: bool
) -> None:
    c = case.config
    sizes = "x".join(map(str, c.hidden_sizes))
    prefix = f"{case.family}/{c.env_id}/hidden={sizes}/steps={c.total_timesteps}"
    print(f"# {case.name}: {c!r}", flush=True)
    compiled, compile_s = rljax_compile(case)
    runs: dict[str, list] = {"rljax": [], **{peer: [] for peer in peers}}
    for seed in range(case.seeds):
        runs["rljax"].append(rljax_run(case, compiled, seed, episodes))
        for peer in peers:
            runs[peer].append(peer_run(case, peer, seed, episodes))
        row = {name: round(r[-1].run_s, 2) for name, r in runs.items()}
        print(f"# seed {seed}: run seconds {row}, load {os.getloadavg()[0]:.2f}", flush=True)

    steps = c.total_timesteps
    ours_run = statistics.median(r.run_s for r in runs["rljax"])
    ours_whole = compile_s + ours_run
    times = {"rljax": [r.run_s for r in runs["rljax"]]}
    peer_run_s, peer_whole_s = {}, {}
    for peer in peers:
        times[peer] = [r.run_s for r in runs[peer]]
        if peer == "sbx" and len(times[peer]) > 1:  # the first seed compiled sbx's update
            peer_run_s[peer] = statistics.median(times[peer][1:])
            peer_whole_s[peer] = times[peer][0]
        else:
            peer_run_s[peer] = peer_whole_s[peer] = statistics.median(times[peer])
    common = {"seeds": case.seeds, "load_1min": os.getloadavg()[0]}
    emit(f"{prefix}/rljax_compile_s", compile_s, None, "s", **common)
    for peer in peers:
        emit(
            f"{prefix}/whole_run_steps_per_s_vs_{peer}",
            steps / ours_whole,
            steps / peer_whole_s[peer],
            "steps/s",
            ours_whole_s=ours_whole,
            anchor_whole_s=peer_whole_s[peer],
            ours_run_s_per_seed=times["rljax"],
            anchor_run_s_per_seed=times[peer],
            **common,
        )
        emit(
            f"{prefix}/run_steps_per_s_vs_{peer}",
            steps / ours_run,
            steps / peer_run_s[peer],
            "steps/s",
            ours_run_s=ours_run,
            anchor_run_s=peer_run_s[peer],
            **common,
        )
    grad_steps = {name: [r.grad_steps for r in rs] for name, rs in runs.items()}
    for name, rs in runs.items():
        greedy = [float(np.mean(r.greedy)) for r in rs]
        emit(
            f"{prefix}/{name}/greedy_return",
            statistics.median(greedy),
            None,
            "return",
            per_seed=greedy,
            train_return_per_seed=[r.train_return for r in rs],
            grad_steps=grad_steps[name][0],
            episodes=episodes,
            **common,
        )
    if driver:
        through = rljax_driver(case)
        emit(
            f"{prefix}/rljax_driver_whole_s",
            through["whole_s"],
            ours_whole,
            "s",
            driver_compile_s=through["compile_s"],
            driver_train_s=through["train_s"],
            note="anchor: the jitted make_train compile + median run; ours: seed 0 via the driver",
        )
    if floor and case.family in ("sac", "td3"):
        _, env_params = make(c.env_id)
        env = make(c.env_id)[0]
        obs_dim = int(env.observation_space(env_params).shape[0])
        action_dim = int(env.action_space(env_params).shape[0])
        delay = getattr(c, "policy_delay", 1)
        measured = sac_floor.measure_floor(
            case.family, c.batch_size, obs_dim, action_dim, c.hidden_sizes, repeats, delay
        )
        step = rljax_grad_step(case)
        floor_s = grad_steps["rljax"][0] * measured["floor_s"]
        emit(
            f"{prefix}/rljax/grad_step_s",
            step["s_per_step"],
            measured["floor_s"],
            "s",
            xla_flops=step["xla_flops"],
            floor_flops=measured["flops"],
            gflop_per_s=step["xla_flops"] / step["s_per_step"] / 1e9,
        )
        emit(
            f"{prefix}/whole_run_s_vs_floor",
            ours_whole,
            floor_s,
            "s",
            run_s=ours_run,
            run_over_floor=ours_run / floor_s,
            grad_steps=grad_steps["rljax"][0],
            floor_s_per_step=measured["floor_s"],
            **common,
        )
        for peer in peers:
            emit(
                f"{prefix}/{peer}/run_s_vs_floor",
                peer_run_s[peer],
                grad_steps[peer][0] * measured["floor_s"],
                "s",
                grad_steps=grad_steps[peer][0],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help="sac-256 sac-64 td3-256 td3-64 dqn (default: all)")
    parser.add_argument("--quick", action="store_true", help="1 seed, a fifth of the steps")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per case (default 3)")
    parser.add_argument("--steps", type=int, default=None, help="env steps of every case")
    parser.add_argument("--peers", default="sb3,sbx", help="comma-separated: sb3, sbx")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="numpy/torch/MKL threads (default 2, the cores; 1 avoids OpenMP's busy-waiting "
        "when other jobs load the box: for smoke checks)",
    )
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--no-floor", action="store_true", help="skip the floors")
    parser.add_argument(
        "--driver", action="store_true", help="also time seed 0 through rljax.run.train"
    )
    parser.add_argument(
        "--interleaved-floor",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="only: rljax's gradient step against the XLA floor, alternated ROUNDS times",
    )
    parser.add_argument("--floor-repeats", type=int, default=100)
    args = parser.parse_args()
    cases = make_cases(args.quick, args.seeds)
    if args.steps:  # one step budget for every case run (a loaded box: shorter runs)
        cases = {
            name: case._replace(config=dataclasses.replace(case.config, total_timesteps=args.steps))
            for name, case in cases.items()
        }
    names = args.cases or (["sac-256", "sac-64"] if args.quick else list(cases))
    unknown = [name for name in names if name not in cases]
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(cases)}")
    peers = [p for p in args.peers.split(",") if p]

    import torch

    torch.set_num_threads(THREADS)
    print(f"# {os.uname().nodename}: {os.cpu_count()} CPUs, load {os.getloadavg()}", flush=True)
    print(
        f"# jax {jax.__version__} ({jax.default_backend()}), torch {torch.__version__}", flush=True
    )
    print(f"# threads: {sac_floor.blas_info()}", flush=True)
    if args.interleaved_floor:
        for name in names:
            interleaved_floor(cases[name], args.interleaved_floor)
        return
    for name in names:
        floor = not args.no_floor and name.endswith("-256")
        bench_case(cases[name], peers, args.eval_episodes, floor, args.floor_repeats, args.driver)


if __name__ == "__main__":
    main()
