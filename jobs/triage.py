"""`ray job submit` entry point for `logad triage label|train|predict`: the same arguments as the CLI.

Example::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/triage.py predict s3://bucket/big.log --model models/triage --out runs/triage
"""

import sys

from logad.cli import app

if __name__ == "__main__":
    app(["triage", *sys.argv[1:]], prog_name="logad")
