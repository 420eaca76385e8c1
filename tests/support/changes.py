"""The sample's change file (`customer_updates`): customers picked from a transferred sample store, their
current contacts opened, and a change file of them whose every row's fate is known (the comment beside it)."""

from __future__ import annotations

from pathlib import Path

import psycopg2
from handover.store.keys import Keyring

from tests.support.stores import SAMPLE_BRANCH as BRANCH

HEADER = "客户编号,手机号码,电子邮箱,联系地址\n"


def sample_people(ctx, n: int = 6) -> list[dict]:
    """``n`` of the sample's customers with a mobile and an e-mail, their current values opened; the first has no
    transaction (an erasure of them is not refused for AML)."""
    with psycopg2.connect(ctx.dsn) as conn:
        keys = Keyring(conn, ctx.master_key, BRANCH)
        with conn.cursor() as cur:
            cur.execute("SELECT c.customer_id, c.mobile_enc, c.email_enc FROM vault.customers c WHERE "
                        "c.mobile_enc IS NOT NULL AND c.email_enc IS NOT NULL ORDER BY EXISTS (SELECT FROM "
                        "vault.transactions t LEFT JOIN vault.accounts a ON a.account_id = t.account_id "
                        "WHERE coalesce(t.customer_id, a.customer_id) = c.customer_id), 1 LIMIT %s", (n,))
            rows = cur.fetchall()
    assert len(rows) == n
    return [{"id": r[0], "mobile": keys.cipher.decrypt(r[1], "vault.customers.mobile"),
             "email": keys.cipher.decrypt(r[2], "vault.customers.email")} for r in rows]


def sample_change_file(folder: Path, people: list[dict]) -> Path:
    """A change file of ``people`` (from :func:`sample_people`) in ``folder``: 9 rows — 3 applied, 1 unchanged,
    4 quarantined (an unknown customer, a bad mobile, two conflicting changes of one customer), 1 duplicate."""
    p = people
    lines = [
        f"{p[0]['id']},13900000001,,",                                     # 2 applied: mobile (old + new told)
        f"{p[1]['id']},,upd1@example.cn,上海市徐汇区漕溪北路1号",            # 3 applied: e-mail and address
        f"{p[2]['id']},{p[2]['mobile']},,",                                 # 4 unchanged: the vault has it
        "NOPE-999,13900000002,,",                                           # 5 quarantined: unknown_customer
        f"{p[3]['id']},12345,,",                                            # 6 quarantined: not a mobile
        f"{p[4]['id']},13900000003,,",                                      # 7 quarantined: update_conflict
        f"{p[4]['id']},13900000004,,",                                      # 8 quarantined: update_conflict
        f"{p[5]['id']},13900000005,,",                                      # 9 applied
        f"{p[5]['id']},13900000005,,",                                      # 10 duplicate
    ]
    path = folder / "客户信息变更.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    return path
