"""``python -m levers``: see :mod:`levers.cli`."""

import sys

from .cli import main

sys.exit(main())
