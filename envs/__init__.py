"""Built-in environments, one per module, registered (lazily) when this package is imported."""

from rljax.env import _REGISTRY, register

_BUILTIN = {
    "CartPole-v1": "rljax.envs.cartpole:CartPole",
    "Pendulum-v1": "rljax.envs.pendulum:Pendulum",
    "MountainCarContinuous-v0": "rljax.envs.mountain_car_continuous:MountainCarContinuous",
    "GridWorld-v0": "rljax.envs.grid_world:GridWorld",
    "EnergyManagement-v0": "rljax.envs.energy_management:EnergyManagement",
    "TicTacToe-v0": "rljax.envs.tic_tac_toe:TicTacToe",
    "ConnectFour-v0": "rljax.envs.connect_four:ConnectFour",
    "TreasureHunt-v0": "rljax.envs.treasure_hunt:TreasureHunt",
    "Tag-v0": "rljax.envs.tag:Tag",
}

for _env_id, _entry in _BUILTIN.items():
    if _env_id not in _REGISTRY:
        register(_env_id, _entry)
