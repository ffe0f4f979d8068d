"""The schema's alembic revisions, shipped inside the package (``pip install`` carries them).

``env.py`` runs a revision on the connection :mod:`evalsvc.schema` hands it (one
transaction per ``evalsvc db upgrade``); ``versions/`` holds one file per revision, each
naming the one before (``down_revision``). A fresh database is not built by replaying
them: it gets the current tables (``create_all``) and is stamped with the head revision.
docs/architecture.md "Schema" says how to add one.
"""
