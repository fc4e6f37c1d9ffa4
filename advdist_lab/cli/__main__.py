"""``python -m advdist_lab.cli``: the ``advdist-lab`` command."""

import sys

from .commands import main

sys.exit(main())
