"""AlphaZero's periodic evaluation during training: the best network against the baselines."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from rljax.configs import ConfigBase, field
from rljax.train.alphazero.learner import setup
from rljax.train.alphazero.selfplay import make_search_player


@dataclasses.dataclass(frozen=True)
class EvalSettings(ConfigBase):
    """How ``rljax train alphazero`` scores the best network during training."""

    eval_games: int = field(32, "games per opponent and evaluation (half with each colour)")
    eval_opponents: tuple[str, ...] = field(
        ("random", "alphabeta:2", "uct:200"),
        "baselines to score against (random, alphabeta:DEPTH, uct:SIMULATIONS)",
    )
    eval_simulations: int = field(64, "search simulations per move of the agent")

    def validate(self) -> None:
        for name in ("eval_games", "eval_simulations"):
            if getattr(self, name) < 1:
                self.fail(name, "must be an integer >= 1")
        if not self.eval_opponents:
            self.fail("eval_opponents", "must name at least one baseline")


def check_settings(config: Any, settings: EvalSettings) -> None:
    """Every opponent must be a baseline that plays ``config.env_id``; ``ValueError`` if not."""
    from rljax.games import players

    for spec in settings.eval_opponents:
        if spec.partition(":")[0] not in players.BASELINES:
            raise ValueError(
                f"--eval-opponents: unknown baseline {spec!r}; allowed: random, "
                "alphabeta:DEPTH, uct:SIMULATIONS"
            )
        try:
            players.parse(spec, config.env_id)
        except ValueError as error:
            raise ValueError(f"--eval-opponents: {error}") from None


def make_evaluator(config: Any, settings: EvalSettings, seed: int):
    """``evaluate(state, update) -> rows``: the best network against each opponent, one compiled
    program per opponent, each colour's games side by side (``rljax.games.arena``)."""
    import jax

    from rljax.games import players
    from rljax.games.arena import play_both_colours, play_colours, score_outcomes

    env, _, model = setup(config)
    num_games = 2 * max(1, settings.eval_games // 2)
    programs = {}
    for spec in settings.eval_opponents:
        _, opponent = players.parse(spec, config.env_id)

        def games(params, key, agent_first, opponent=opponent):
            agent = make_search_player(model, params, settings.eval_simulations)
            return play_colours(env, agent, opponent, key, agent_first)

        programs[spec] = jax.jit(games)

    def evaluate(state: Any, update: int) -> list[dict[str, Any]]:
        rows = []
        for i, (spec, program) in enumerate(programs.items()):
            key = jax.random.fold_in(jax.random.key(seed + 7919), update * 64 + i)
            runner = functools.partial(program, state.best_params)
            rows.append(
                {"opponent": spec, **score_outcomes(play_both_colours(runner, key, num_games))}
            )
        return rows

    return evaluate


def summarize(rows: list[dict[str, Any]]) -> str:
    """The last evaluation as a table: score, W/D/L and the 95 % interval per opponent."""
    lines = [f"{'opponent':<16}{'score':>8}{'W':>6}{'D':>6}{'L':>6}   95% CI"]
    for r in rows:
        lines.append(
            f"{r['opponent']:<16}{r['score']:>8.3f}{r['wins']:>6}{r['draws']:>6}{r['losses']:>6}"
            f"   [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Any) -> None:
    from rljax.plotting import plot_scores

    plot_scores(rows, path)


def make_player(config: Any, state: Any, num_simulations: int = 64, gumbel_scale: float = 0.0):
    """The trained agent: search with the run's best network (deterministic by default)."""
    _, _, model = setup(config)
    return make_search_player(model, state.best_params, num_simulations, gumbel_scale)
