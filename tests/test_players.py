"""``rljax.games.players.parse``: the command line's player words, their settings and errors."""

import json
import re

import pytest
from cli_harness import run_cli

from rljax.games import baselines, players


@pytest.fixture
def built(monkeypatch):
    """Records ``(name, env id, options)`` of every baseline ``parse`` builds, building nothing."""
    calls = []
    monkeypatch.setattr(
        baselines,
        "make_player",
        lambda name, env, **kwargs: calls.append((name, env.name, kwargs)) or (lambda k, s: None),
    )
    return calls


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("random", ("random", {})),
        ("uct", ("uct", {})),
        ("uct:1000", ("uct", {"num_simulations": 1000})),
        ("alphabeta", ("alphabeta", {})),
        ("alphabeta:4", ("alphabeta", {"depth": 4})),
    ],
)
def test_parse_reads_the_setting_after_the_colon(built, spec, expected):
    label, act = players.parse(spec, "ConnectFour-v0")
    assert label == spec and callable(act)
    assert built == [(expected[0], "ConnectFour", expected[1])]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("uct:many", "'many' is not an integer (num_simulations)"),
        ("alphabeta:4.5", "'4.5' is not an integer (depth)"),
        ("random:3", "random takes no ':' setting"),
        ("minimax", "unknown player 'minimax': use random, uct[:SIMULATIONS], alphabeta[:DEPTH]"),
        ("runs/none-such", "unknown player 'runs/none-such'"),
    ],
)
def test_parse_names_what_is_wrong(built, spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        players.parse(spec, "TicTacToe-v0")
    assert built == []


def test_arena_scores_from_the_first_players_view():
    """Perfect tic-tac-toe (alpha-beta to the end of the game) never loses to random play and
    wins most games; a result reported from the other side's view would show losses."""
    code, out, err = run_cli(
        ["arena", "alphabeta:9", "random", "--env", "TicTacToe-v0", "--games", 8, "--json"]
    )
    assert code == 0, err
    result = json.loads(out)
    assert (result["a"], result["b"], result["games"]) == ("alphabeta:9", "random", 8)
    assert result["losses"] == 0 and result["wins"] >= 4, result
