"""HTTP entry points (FastAPI): the chatkit app and the session + tasks app."""
