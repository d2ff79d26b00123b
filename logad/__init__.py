"""logad: log anomaly detection at cluster scale, on Ray."""

import os as _os

__all__ = ["__version__"]

__version__ = "0.1.0"

# OpenMP (XGBoost, scikit-learn, torch) spins idle threads by default; on cores shared with other
# work (a loaded node, Ray workers beside the estimator) that turned a 2 s XGBoost fit into 38 s
# on 2 threads. Threads that sleep while they wait cost almost nothing when the cores are free.
# Read when the OpenMP runtime loads, so it is set here, before any of those imports.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
