"""`python -m bench.store`: the command lives in bench.cli.store."""

import sys

from bench.cli.store import main

sys.exit(main())
