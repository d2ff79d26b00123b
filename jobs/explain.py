"""`ray job submit` entry point for `logad explain`: the same arguments as the CLI command.

Example::

    ray job submit --address http://HEAD:8265 --working-dir . -- python jobs/explain.py --help
"""

import sys

from logad.cli import app

if __name__ == "__main__":
    app(["explain", *sys.argv[1:]], prog_name="logad explain")
