"""`python -m bench.ab`: kept as the command's name; the command lives in bench.cli.ab."""

import sys

from bench.cli.ab import main

if __name__ == "__main__":
    sys.exit(main())
