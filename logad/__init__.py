"""logad: log anomaly detection at cluster scale, on Ray."""

__all__ = ["__version__"]

__version__ = "0.1.0"
