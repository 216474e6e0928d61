"""DynamoDB persistence: one table, every key prefixed by the user id."""
