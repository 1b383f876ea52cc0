"""`python -m bench.worker`: the measuring process (bench.engine.worker). Every checkout keeps this name:
an A/B run drives the other side's checkout through it."""

import sys

from bench.engine.worker import main

if __name__ == "__main__":
    sys.exit(main())
