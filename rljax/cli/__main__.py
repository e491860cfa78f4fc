"""``python -m rljax.cli ...``: the same as the ``rljax`` command."""

import sys

from rljax.cli import main

sys.exit(main())
