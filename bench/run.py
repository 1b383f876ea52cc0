"""`python -m bench.run`: kept as the command's name; the command lives in bench.cli.run."""

import sys

from bench.cli.run import main

if __name__ == "__main__":
    sys.exit(main())
