"""Shared package of the Todo assistant: config, auth, store, tasks, agent and web apps."""
