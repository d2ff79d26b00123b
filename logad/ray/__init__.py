"""Stage runners: the only modules that import Ray. Each composes pure transforms with Ray."""
