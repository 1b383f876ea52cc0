"""`python -m bench.merge`: kept as the command's name; the command lives in bench.cli.merge."""

import sys

from bench.cli.merge import main

if __name__ == "__main__":
    sys.exit(main())
