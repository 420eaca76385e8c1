"""The target store: schema, keys, staging, merge and ops records (PostgreSQL over psycopg2).

:func:`connect` is the one way in (:mod:`handover.store.connection`): its errors never quote a value.
"""

from handover.store.connection import connect, open_connection, translated

__all__ = ["connect", "open_connection", "translated"]
