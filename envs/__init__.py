"""Built-in environments, one per module, registered (lazily) when this package is imported.

Each entry names the environment class and, where it has one, the renderer class next to it in
the same module (:mod:`rljax.render` draws episodes with it); both are imported on first use.
"""

from rljax.env import register

# env id: (environment class, renderer class or None)
_BUILTIN = {
    "CartPole-v1": ("rljax.envs.cartpole:CartPole", "rljax.envs.cartpole:CartPoleRenderer"),
    "Pendulum-v1": ("rljax.envs.pendulum:Pendulum", "rljax.envs.pendulum:PendulumRenderer"),
    "MountainCarContinuous-v0": (
        "rljax.envs.mountain_car_continuous:MountainCarContinuous",
        "rljax.envs.mountain_car_continuous:MountainCarRenderer",
    ),
    "MountainCar-v0": (
        "rljax.envs.mountain_car:MountainCar",
        "rljax.envs.mountain_car:DiscreteMountainCarRenderer",
    ),
    "Acrobot-v1": ("rljax.envs.acrobot:Acrobot", "rljax.envs.acrobot:AcrobotRenderer"),
    "GridWorld-v0": ("rljax.envs.grid_world:GridWorld", "rljax.envs.grid_world:GridWorldRenderer"),
    "HazardGridWorld-v0": ("rljax.envs.hazard_grid_world:HazardGridWorld", None),
    "EnergyManagement-v0": (
        "rljax.envs.energy_management:EnergyManagement",
        "rljax.envs.energy_management:EnergyManagementRenderer",
    ),
    "EnergyManagement-v1": (
        "rljax.envs.energy_management_v1:EnergyManagementV1",
        "rljax.envs.energy_management_v1:EnergyManagementV1Renderer",
    ),
    "TicTacToe-v0": ("rljax.envs.tic_tac_toe:TicTacToe", None),
    "ConnectFour-v0": ("rljax.envs.connect_four:ConnectFour", None),
    "TreasureHunt-v0": (
        "rljax.envs.treasure_hunt:TreasureHunt",
        "rljax.envs.treasure_hunt:TreasureHuntRenderer",
    ),
    "Tag-v0": ("rljax.envs.tag:Tag", "rljax.envs.tag:TagRenderer"),
}

for _env_id, (_entry, _renderer) in _BUILTIN.items():
    register(_env_id, _entry, renderer=_renderer)  # a no-op when re-imported
