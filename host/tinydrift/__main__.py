"""``python -m tinydrift``: the tinydrift command line."""

import sys

from tinydrift.cli import main

sys.exit(main())
