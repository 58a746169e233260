"""Alembic migrations of the ledger schema, run in code by ``wmnet.ledger.db.migrate``."""
