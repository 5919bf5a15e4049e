"""``python -m modeltap``: the ``modeltap`` command."""

import sys

from modeltap.cli import main

sys.exit(main())
