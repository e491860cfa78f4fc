"""Drawing recorded episodes (:mod:`rljax.render`) with the renderers registered with the envs."""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest

import rljax
from rljax import env as env_module
from rljax import render
from rljax.envs.cartpole import CartPole

RENDERED_IDS = [
    env_id for env_id in rljax.registered_ids() if env_module.renderer_for(env_id) is not None
]


def _trajectory(env_id, steps=6):
    """A short random-action trajectory in the layout ``cli.make_episode_fn`` records."""
    env, params = rljax.make(env_id)
    step = jax.jit(env.step)
    key = jax.random.key(0)
    obs, state = env.reset(key, params)
    initial = {"initial_state": state, "initial_obs": obs}
    record = {"states": [], "obs": [], "actions": [], "rewards": []}
    for t in range(steps):
        action = env.action_space(params).sample(jax.random.fold_in(key, t))
        obs, state, reward, *_ = step(key, state, action, params)
        for name, value in zip(record, (state, obs, action, reward), strict=True):
            record[name].append(value)
    stacked = {
        name: jax.tree.map(lambda *xs: np.stack(xs), *values) for name, values in record.items()
    }
    return env, params, jax.device_get({**initial, **stacked})


def test_builtin_envs_register_their_renderers():
    # Every built-in with a picture registers one; the board games replay as text.
    assert set(RENDERED_IDS) == {
        "CartPole-v1",
        "Pendulum-v1",
        "MountainCarContinuous-v0",
        "GridWorld-v0",
        "EnergyManagement-v0",
        "EnergyManagement-v1",
        "Acrobot-v1",
        "MountainCar-v0",
        "TreasureHunt-v0",
        "Tag-v0",
    }
    for env_id in ("TicTacToe-v0", "ConnectFour-v0"):
        assert env_module.renderer_for(env_id) is None
    # Each renderer lives in its environment's module, and is registered as a lazy string.
    for env_id in RENDERED_IDS:
        assert isinstance(env_module.registration(env_id).renderer, str)
        factory = env_module.factory(env_id)
        assert env_module.renderer_for(env_id).__module__ == factory.__module__


def test_renderer_for_unknown_id_raises_with_the_closest_match():
    with pytest.raises(ValueError, match="Did you mean 'CartPole-v1'"):
        env_module.renderer_for("CartPole-v2")


def test_importing_and_making_envs_does_not_import_matplotlib():
    code = (
        "import sys, rljax\n"
        "for env_id in rljax.registered_ids(): rljax.make(env_id)\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("env_id", RENDERED_IDS)
def test_renderers_draw_each_builtin_env(env_id, tmp_path):
    env, params, traj = _trajectory(env_id)
    path = render.render_episode(env_id, env, params, traj, 5, tmp_path / "episode", max_frames=4)
    assert path == tmp_path / "episode.gif"
    from PIL import Image

    with Image.open(path) as image:
        assert image.n_frames == 4  # 6 states (reset + 5 steps) subsampled to 4


def test_text_replay_for_envs_without_renderer(clean_registry, tmp_path):
    rljax.register("Custom-v0", CartPole)
    env, params, traj = _trajectory("Custom-v0")
    path = render.render_episode("Custom-v0", env, params, traj, 3, tmp_path / "episode")
    assert path == tmp_path / "episode.txt"
    lines = path.read_text().splitlines()
    assert lines[0].startswith("Custom-v0: 3 steps, return 3.000")
    assert len(lines) == 2 + 3 and lines[-1].startswith("t=3 action=")


def test_a_registered_renderer_draws_a_new_env(clean_registry, tmp_path):
    drawn = []

    class CountingRenderer:
        def __init__(self, fig, env, params, states, actions, returns):
            self.states = states
            (self.dot,) = fig.add_subplot().plot([], [], "o")
            self.artists = [self.dot]

        def draw(self, t):
            drawn.append(t)
            self.dot.set_data([float(self.states.x[t])], [0.0])

    rljax.register("Custom-v0", CartPole, renderer=CountingRenderer)
    assert env_module.renderer_for("Custom-v0") is CountingRenderer
    env, params, traj = _trajectory("Custom-v0")
    path = render.render_episode("Custom-v0", env, params, traj, 5, tmp_path / "ep", max_frames=3)
    assert path == tmp_path / "ep.gif"
    assert drawn == [0, 2, 5]  # frame_indices(5, 3)


def test_frame_indices_subsample_evenly():
    assert list(render.frame_indices(3, 300)) == [0, 1, 2, 3]
    idx = render.frame_indices(999, 300)
    assert len(idx) == 300 and idx[0] == 0 and idx[-1] == 999
