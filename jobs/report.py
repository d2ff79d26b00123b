"""`ray job submit` entry point for `logad report`: the same arguments as the CLI command.

Example::

    ray job submit --address http://HEAD:8265 --working-dir . -- python jobs/report.py --help
"""

import sys

from logad.cli import app

if __name__ == "__main__":
    app(["report", *sys.argv[1:]], prog_name="logad report")
