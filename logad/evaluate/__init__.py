"""logad.evaluate: metrics (:mod:`logad.evaluate.metrics`) and plots (:mod:`logad.evaluate.plots`)."""

__all__: list[str] = []
