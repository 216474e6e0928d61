"""Retention cleanup: the table's stream (filtered to TTL deletions of thread rows) in, the
rest of each expired thread out. Code: todo_assistant/lifecycle/retention.py, wired by
todo_assistant/wiring/retention.py."""

from todo_assistant.wiring.retention import build_stream_handler

handler = build_stream_handler()
