"""Developer tooling: generated documents (``python -m scripts.openapi``,
``python -m scripts.architecture_tables``)."""
