"""Which registered environments are games (``rljax.games.game_ids`` / ``check_game``)."""

from __future__ import annotations

import pytest

import rljax
from rljax import games
from rljax.envs.cartpole import CartPole
from rljax.envs.tic_tac_toe import TicTacToe


def test_builtin_games_are_the_board_games():
    assert games.game_ids() == ["ConnectFour-v0", "TicTacToe-v0"]
    assert games.is_game("TicTacToe-v0") and not games.is_game("Tag-v0")


def test_games_follow_the_registry(clean_registry):
    # A class entry is tested without building it; a factory function is built and tested.
    rljax.register("TicTacToeAlias-v0", TicTacToe)
    rljax.register("TicTacToeMaker-v0", lambda: TicTacToe(illegal_action="error"))
    rljax.register("NotAGame-v0", lambda: CartPole())
    assert games.game_ids() == [
        "ConnectFour-v0",
        "TicTacToe-v0",
        "TicTacToeAlias-v0",
        "TicTacToeMaker-v0",
    ]
    games.check_game("TicTacToeMaker-v0")


def test_check_game_names_the_field_and_lists_the_games():
    with pytest.raises(ValueError) as error:
        games.check_game("CartPole-v1", "--env")
    assert str(error.value) == (
        "--env='CartPole-v1' is invalid: must be a two-player board game: "
        "one of ConnectFour-v0, TicTacToe-v0"
    )
    with pytest.raises(ValueError, match="env_id='Nope-v0' is invalid"):
        games.check_game("Nope-v0")


def test_is_game_rejects_unknown_ids():
    with pytest.raises(ValueError, match="unknown environment id 'Nope-v0'"):
        games.is_game("Nope-v0")
