"""`python -m bench.continuous`: kept as the command's name; the command lives in bench.cli.continuous."""

import sys

from bench.cli.continuous import main

if __name__ == "__main__":
    sys.exit(main())
