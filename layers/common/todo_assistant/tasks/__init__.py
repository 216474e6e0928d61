"""Per-user tasks: models, persistence and the service used by the agent tools and REST API."""
