"""`python -m bench.report`: kept as the command's name; the command lives in bench.cli.report."""

import sys

from bench.cli.report import main

if __name__ == "__main__":
    sys.exit(main())
