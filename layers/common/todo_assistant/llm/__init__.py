"""Which model, with which settings: providers, the composer's model choice, per-request settings."""
