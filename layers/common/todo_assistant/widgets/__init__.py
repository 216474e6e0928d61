"""ChatKit widgets of the Todo assistant, built from the `.widget` templates in this package."""
