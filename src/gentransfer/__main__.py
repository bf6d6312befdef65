"""``python -m gentransfer``: the command-line tool without its installed entry point."""

import sys

from gentransfer.cli import main

sys.exit(main())
