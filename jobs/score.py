"""`ray job submit` entry point for `logad score`: the same arguments as the CLI command.

Example::

    ray job submit --address http://HEAD:8265 --working-dir . -- python jobs/score.py --help
"""

import sys

from logad.cli import app

if __name__ == "__main__":
    app(["score", *sys.argv[1:]], prog_name="logad score")
