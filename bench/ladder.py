"""`python -m bench.ladder`: kept as the command's name; the command lives in bench.cli.ladder."""

import sys

from bench.cli.ladder import main

if __name__ == "__main__":
    sys.exit(main())
