"""The ChatKit Store on the shared table: threads, items, attachments, feedback, stop requests."""
