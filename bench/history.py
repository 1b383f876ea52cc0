"""`python -m bench.history`: kept as the command's name; the command lives in bench.cli.history."""

import sys

from bench.cli.history import main

if __name__ == "__main__":
    sys.exit(main())
