"""Training: Lightning modules that compose registered models with losses, callbacks and the run engine."""
