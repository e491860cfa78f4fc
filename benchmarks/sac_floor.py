"""The arithmetic floor of one SAC gradient step: its matrix products alone, timed on this CPU.

One SAC gradient step (SB3's order, Box actions, twin critics, batch ``B``) multiplies matrices in
three passes; :func:`sac_step_gemms` lists every product with its shape ``[m, k] @ [k, n]``:

1. the target: the actor forward on ``next_obs`` and both target critics forward on
   ``(next_obs, a')``;
2. the critics' loss: both critics forward on ``(obs, action)`` and backward (every kernel's
   gradient ``x^T g`` and every hidden layer's input gradient ``g W^T``; the data's needs none);
3. the actor's loss: the actor forward on ``obs``, both critics forward on ``(obs, a)`` and
   backward to the action (input gradients only: the critics are not updated by this loss),
   then the actor backward (kernel gradients and hidden input gradients).

Nothing else a step does (activations, the tanh-Gaussian's log-density, Adam, the Polyak
average, sampling the batch) is counted: those are elementwise over the parameters or the batch
and cost well under a tenth of the products at SB3's sizes (two 256-unit layers, ``B = 256``).
The floor is the time of exactly those products, each operand already in the layout its fastest
kernel wants, measured three ways on the same shapes: one jitted XLA program returning every
product (XLA:CPU's own kernels, what rljax runs on), numpy's BLAS and, when torch is installed,
torch's. FLOPs are ``2 m k n`` per product.

Prints one JSON line per backend (``bench``, ``ours`` = median seconds per step, ``anchor`` =
None, plus ``flops`` and ``gflop_per_s``)::

    python benchmarks/sac_floor.py                  # SB3's sizes: 256 x 256, batch 256
    python benchmarks/sac_floor.py --hidden 64 64   # the presets' sizes
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rljax.benchmarking import emit


class Gemm(NamedTuple):
    """One matrix product ``[m, k] @ [k, n]`` of a gradient step and where it comes from."""

    name: str
    m: int
    k: int
    n: int

    @property
    def flops(self) -> int:
        return 2 * self.m * self.k * self.n


def forward(prefix: str, dims: Sequence[int], batch: int) -> list[Gemm]:
    """The products of an MLP ``dims[0] -> ... -> dims[-1]`` on ``batch`` rows."""
    return [Gemm(f"{prefix}.fwd{i}", batch, dims[i], dims[i + 1]) for i in range(len(dims) - 1)]


def backward(
    prefix: str, dims: Sequence[int], batch: int, kernels: bool, to_input: bool
) -> list[Gemm]:
    """The products of an MLP's backward pass: each kernel's gradient ``x_i^T [d_i, B] @ g
    [B, d_i+1]`` when ``kernels``, and each layer's input gradient ``g [B, d_i+1] @ W^T
    [d_i+1, d_i]`` for the hidden layers (and the input layer too when ``to_input``)."""
    gemms = []
    for i in reversed(range(len(dims) - 1)):
        if kernels:
            gemms.append(Gemm(f"{prefix}.grad_w{i}", dims[i], batch, dims[i + 1]))
        if i > 0 or to_input:
            gemms.append(Gemm(f"{prefix}.grad_x{i}", batch, dims[i + 1], dims[i]))
    return gemms


def sac_step_gemms(batch: int, obs_dim: int, action_dim: int, hidden: Sequence[int]) -> list[Gemm]:
    """Every matrix product of one SAC gradient step (module docstring), in order."""
    actor = [obs_dim, *hidden, 2 * action_dim]  # mean and log-std heads
    critic = [obs_dim + action_dim, *hidden, 1]
    gemms = forward("target.actor", actor, batch)
    for q in ("q0", "q1"):
        gemms += forward(f"target.{q}", critic, batch)
    for q in ("q0", "q1"):
        gemms += forward(f"critic_loss.{q}", critic, batch)
        gemms += backward(f"critic_loss.{q}", critic, batch, kernels=True, to_input=False)
    gemms += forward("actor_loss.actor", actor, batch)
    for q in ("q0", "q1"):
        gemms += forward(f"actor_loss.{q}", critic, batch)
        gemms += backward(f"actor_loss.{q}", critic, batch, kernels=False, to_input=True)
    gemms += backward("actor_loss.actor", actor, batch, kernels=True, to_input=False)
    return gemms


def td3_cycle_gemms(
    batch: int, obs_dim: int, action_dim: int, hidden: Sequence[int], policy_delay: int
) -> list[Gemm]:
    """Every matrix product of ``policy_delay`` TD3 gradient steps (SB3's order): each step the
    target (target actor and both target critics forward) and the critics' loss (forward and
    backward, as SAC's); once in the cycle the actor's loss through the first critic alone."""
    actor = [obs_dim, *hidden, action_dim]
    critic = [obs_dim + action_dim, *hidden, 1]
    gemms = []
    for step in range(policy_delay):
        gemms += forward(f"{step}.target.actor", actor, batch)
        for q in ("q0", "q1"):
            gemms += forward(f"{step}.target.{q}", critic, batch)
        for q in ("q0", "q1"):
            gemms += forward(f"{step}.critic_loss.{q}", critic, batch)
            gemms += backward(
                f"{step}.critic_loss.{q}", critic, batch, kernels=True, to_input=False
            )
    gemms += forward("actor_loss.actor", actor, batch)
    gemms += forward("actor_loss.q0", critic, batch)
    gemms += backward("actor_loss.q0", critic, batch, kernels=False, to_input=True)
    gemms += backward("actor_loss.actor", actor, batch, kernels=True, to_input=False)
    return gemms


def step_gemms(
    algorithm: str,
    batch: int,
    obs_dim: int,
    action_dim: int,
    hidden: Sequence[int],
    policy_delay: int = 2,
) -> tuple[list[Gemm], int]:
    """``(products, gradient steps they make)``: one SAC step, or one TD3 cycle of
    ``policy_delay`` steps."""
    if algorithm == "sac":
        return sac_step_gemms(batch, obs_dim, action_dim, hidden), 1
    if algorithm == "td3":
        return td3_cycle_gemms(batch, obs_dim, action_dim, hidden, policy_delay), policy_delay
    raise ValueError(f"algorithm must be sac or td3, not {algorithm!r}")


def operands(gemms: Sequence[Gemm], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random float32 ``(lhs [m, k], rhs [k, n])`` per product, C-contiguous."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((g.m, g.k), dtype=np.float32),
            rng.standard_normal((g.k, g.n), dtype=np.float32),
        )
        for g in gemms
    ]


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def xla_products(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> Callable[[], object]:
    """A thunk running one jitted program that computes every product (outputs blocked on)."""
    args = [(jnp.asarray(a), jnp.asarray(b)) for a, b in pairs]
    compiled = jax.jit(lambda ps: [a @ b for a, b in ps]).lower(args).compile()
    return lambda: jax.block_until_ready(compiled(args))


def time_xla(pairs: Sequence[tuple[np.ndarray, np.ndarray]], repeats: int) -> float:
    """Median seconds of one jitted program computing every product (all outputs consumed)."""
    return median_time(xla_products(pairs), repeats)


def time_numpy(pairs: Sequence[tuple[np.ndarray, np.ndarray]], repeats: int) -> float:
    """Median seconds of numpy's BLAS computing every product into preallocated outputs."""
    outs = [np.empty((a.shape[0], b.shape[1]), np.float32) for a, b in pairs]

    def run():
        for (a, b), out in zip(pairs, outs, strict=True):
            np.matmul(a, b, out=out)

    return median_time(run, repeats)


def time_torch(pairs: Sequence[tuple[np.ndarray, np.ndarray]], repeats: int) -> float | None:
    """Median seconds of torch's ``mm`` on every product (CPU), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    tensors = [(torch.from_numpy(a), torch.from_numpy(b)) for a, b in pairs]
    outs = [torch.empty((a.shape[0], b.shape[1])) for a, b in pairs]

    def run():
        with torch.no_grad():
            for (a, b), out in zip(tensors, outs, strict=True):
                torch.mm(a, b, out=out)

    return median_time(run, repeats)


def set_threads(threads: int) -> None:
    """Torch's intra-op thread count (numpy's OpenBLAS and XLA take theirs from the
    environment and the cores: run with ``OMP_NUM_THREADS`` etc. set to the same)."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def blas_info() -> dict[str, str]:
    """Which BLAS numpy and torch use and their thread counts (as far as they tell)."""
    info = {"xla_cpu_devices": str(len(jax.devices("cpu")))}
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception as error:  # noqa: BLE001 - numpy's config layout varies between versions
        info["numpy_blas"] = f"unknown ({error!r})"
    try:
        from threadpoolctl import threadpool_info

        info["numpy_threads"] = str([p.get("num_threads") for p in threadpool_info()])
    except ImportError:
        info["numpy_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    try:
        import torch

        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "other"
        info["torch_threads"] = str(torch.get_num_threads())
    except ImportError:
        pass
    return info


def measure_floor(
    algorithm: str,
    batch: int,
    obs_dim: int,
    action_dim: int,
    hidden: Sequence[int],
    repeats: int,
    policy_delay: int = 2,
) -> dict[str, float]:
    """Emits the floor per backend and returns ``{"flops", "xla_s", "numpy_s", "torch_s",
    "floor_s"}`` per gradient step (``floor_s`` the fastest backend's median; TD3's figures
    are a cycle's divided by ``policy_delay``)."""
    gemms, steps = step_gemms(algorithm, batch, obs_dim, action_dim, hidden, policy_delay)
    flops = sum(g.flops for g in gemms) / steps
    pairs = operands(gemms)
    sizes = "x".join(str(h) for h in hidden)
    times = {
        "xla": time_xla(pairs, repeats),
        "numpy": time_numpy(pairs, repeats),
        "torch": time_torch(pairs, repeats),
    }
    result: dict[str, float] = {"flops": float(flops)}
    for backend, cycle_seconds in times.items():
        if cycle_seconds is None:
            continue
        seconds = cycle_seconds / steps
        result[f"{backend}_s"] = seconds
        emit(
            f"{algorithm}_floor/hidden={sizes}/batch={batch}/{backend}_s_per_step",
            seconds,
            None,
            "s",
            flops=flops,
            gflop_per_s=flops / seconds / 1e9,
            gemms=len(gemms),
            repeats=repeats,
        )
    result["floor_s"] = min(result[f"{b}_s"] for b in times if f"{b}_s" in result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=("sac", "td3"), default="sac")
    parser.add_argument("--policy-delay", type=int, default=2, help="TD3's")
    parser.add_argument("--hidden", nargs="+", type=int, default=[256, 256])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--obs-dim", type=int, default=3, help="Pendulum-v1's")
    parser.add_argument("--action-dim", type=int, default=1, help="Pendulum-v1's")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2, help="torch's intra-op threads")
    parser.add_argument("--list", action="store_true", help="print the products and stop")
    args = parser.parse_args()
    gemms, steps = step_gemms(
        args.algorithm, args.batch, args.obs_dim, args.action_dim, args.hidden, args.policy_delay
    )
    if args.list:
        for g in gemms:
            shape = f"[{g.m:4d}, {g.k:4d}] @ [{g.k:4d}, {g.n:4d}]"
            print(f"{g.name:28s} {shape}  {g.flops / 1e6:7.2f} MFLOP")
        total = sum(g.flops for g in gemms) / 1e6
        print(f"total {total:.1f} MFLOP in {len(gemms)} products, {steps} gradient step(s)")
        return
    set_threads(args.threads)
    print(f"# {blas_info()}", flush=True)
    measure_floor(
        args.algorithm,
        args.batch,
        args.obs_dim,
        args.action_dim,
        args.hidden,
        args.repeats,
        args.policy_delay,
    )


if __name__ == "__main__":
    main()
