"""Finding a customer by an identifier — a mobile, a document number, an e-mail — through the vault's blind
indexes: the branch, the customer's number and the masked forms; nothing is decrypted."""

from __future__ import annotations

from handover.store import connect, keys


def find_customers(dsn: str, master, *, mobile: str | None = None, id_number: str | None = None,
                   email: str | None = None) -> list[dict]:
    """Exact lookup through the blind indexes: (branch, customer, masked forms) — no decryption."""
    import pandas as pd

    from handover import normalise
    from handover.documents import spelled

    probes = []
    for field_name, fmt, value in (("mobile", "mobile", mobile), ("email", "email", email)):
        if value:
            clean, _ = normalise.normalise_column(pd.Series([value], dtype=object), "string", fmt)
            probes.append((field_name, fmt, clean.iloc[0]))
    if id_number and spelled(id_number):  # any document type's number, in the resident IDs' index domain
        probes.append(("id_number", "resident_id", spelled(id_number)))
    with connect(dsn, "find") as conn:
        hasher = keys.hasher(conn, master, create=False)  # a lookup writes nothing, not even a key
        found = []
        if hasher is None:  # nothing was ever indexed in this store
            return found
        with conn.cursor() as cur:
            for field_name, fmt, value in probes:
                cur.execute(f"SELECT branch_id, customer_id, name_mask, mobile_mask, id_number_mask "
                            f"FROM vault.customers WHERE {field_name}_bidx = %s ORDER BY 1, 2",
                            (hasher.digest(fmt, value),))
                for row in cur.fetchall():
                    found.append(dict(zip(("branch_id", "customer_id", "name", "mobile", "id_number"), row,
                                          strict=True)))
    return found
