"""The only place `Settings` become objects: each function builds its dependencies here, once, at init."""
