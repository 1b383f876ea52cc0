"""`python -m bench.bisect`: the command lives in bench.cli.bisect."""

import sys

from bench.cli.bisect import main

if __name__ == "__main__":
    sys.exit(main())
