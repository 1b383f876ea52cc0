"""`python -m bench.analysis`: the command lives in bench.cli.analysis."""

import sys

from bench.cli.analysis import main

sys.exit(main())
