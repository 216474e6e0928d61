"""The offline model: a deterministic Agents SDK model that reads everyday Todo phrasing."""
