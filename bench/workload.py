"""`python -m bench.workload`: the command lives in bench.cli.workload."""

import sys

from bench.cli.workload import main

if __name__ == "__main__":
    sys.exit(main())
