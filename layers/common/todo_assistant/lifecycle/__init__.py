"""A user's data over time: thread retention, export and erasure."""
