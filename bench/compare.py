"""`python -m bench.compare`: kept as the command's name; the command lives in bench.cli.compare."""

import sys

from bench.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())
