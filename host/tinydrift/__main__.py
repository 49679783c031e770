"""``python -m tinydrift``: the tinydrift command line."""

import sys

from .cli import main

sys.exit(main())
