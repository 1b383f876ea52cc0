"""`python -m bench.plot`: kept as the command's name; the command lives in bench.cli.plot."""

import sys

from bench.cli.plot import main

if __name__ == "__main__":
    sys.exit(main())
