"""Developer tooling: generated documents (``python -m scripts.openapi``)."""
