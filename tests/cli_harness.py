"""Running the command line in process, for the CLI and driver tests."""

from __future__ import annotations

import contextlib
import io

from rljax import cli


def run_cli(argv: list) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``rljax.cli.main(argv)`` (items made strings)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()
