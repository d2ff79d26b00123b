"""Labelled synthetic corpora that look like real logs: OpenStack, LO2 and Linux syslog.

Each kind has a pure ``generate_<kind>(out_dir, *, seed, ...)`` that writes its files atomically
and returns a summary; :func:`run_synth` resolves a config and records it. Same seed, same bytes.
"""

from logad.synth.corpus import GENERATORS, kind_params, run_synth
from logad.synth.kernel import generate_kernel
from logad.synth.lo2 import generate_lo2
from logad.synth.openstack import generate_openstack

__all__ = ["GENERATORS", "run_synth", "kind_params", "generate_openstack", "generate_lo2", "generate_kernel"]
