"""One alembic revision per file (``r<NNNN>_<slug>.py``); see :mod:`evalsvc.migrations`."""
