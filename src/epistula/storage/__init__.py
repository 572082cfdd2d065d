"""Durable state. :mod:`.database` opens the database (SQLite or PostgreSQL) and
migrates it (:mod:`.migrate`, Alembic revisions in ``migrations/``) to the one schema
of :mod:`.schema`; each feature has a small store over it: keys and workspaces
(:mod:`.tenancy`), batches (:mod:`.batches`, worker liveness in :mod:`.liveness`),
file metadata (:mod:`.files`, bytes in :mod:`.blobs`); usage rows are
:mod:`epistula.accounting.usage_store`'s."""
