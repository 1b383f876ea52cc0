"""`python -m bench.callgrind_worker TASKS_JSON`: the process bench.ab --method icount counts under callgrind
(bench.engine.callgrind_worker; run by its path, so that both sides count with the same script)."""

import sys

from bench.engine.callgrind_worker import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
