"""The Todo agent: tools over the task service, model providers and the offline local model."""
