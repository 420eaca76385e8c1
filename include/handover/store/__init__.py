"""The target store: schema, keys, staging, merge and ops records (PostgreSQL over psycopg2)."""
