"""``python -m gentransfer.cli``: the command line."""

import sys

from gentransfer.cli import main

sys.exit(main())
