"""The canonical model: the entities a branch transfer moves and the fields each one has.

A branch's export uses whatever headers its system wrote (客户编号, 证件号码, …); the contract maps them
onto these fields. The vault's tables have exactly these columns, so the receiving owner gets one stable
model whatever system the branch ran. Each field states its value type, its format (which validator
applies), the least PII class it may be declared with, and what the vault stores for it:

- ``plain``:   the normalised value, as is;
- ``sealed``:  AES-256-GCM ciphertext (``<field>_enc``), plus, where the field says so, an HMAC blind
  index for exact lookup (``<field>_bidx``) and a display mask for front-line staff (``<field>_mask``,
  138****5678).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# PII classes, from least to most protected. A contract may declare a field stricter than its canonical
# class, never weaker.
PII_CLASSES = ("none", "quasi", "free_text", "sensitive", "direct")
PII_RANK = {name: rank for rank, name in enumerate(PII_CLASSES)}
# Which PII classes the vault encrypts (for extra columns, which have no canonical storage).
SEALED_PII = frozenset({"direct", "sensitive", "free_text"})

VALUE_TYPES = ("string", "integer", "amount", "date", "datetime", "boolean")
# How the store holds each value type (the vault's plain columns, the analytics tier's kept ones).
SQL_TYPES = {"string": "text", "integer": "bigint", "amount": "numeric(18,2)", "date": "date",
             "datetime": "timestamp", "boolean": "boolean"}
# ``document``: an identity-document number checked by the row's document type (``id_type``, see
# :mod:`handover.documents`); ``country``: a nationality or country (中国, CN, CHN → CHN); ``expiry``: a
# document's expiry date, where 长期 (never) is 9999-12-31.
FORMATS = ("resident_id", "uscc", "bank_card", "mobile", "landline", "email", "gender", "currency", "document",
           "country", "expiry")
# What a bad value in a column does to its row (the contract's ``on_invalid``): ``quarantine`` the row,
# load it with the value set to ``null`` (the reason kept with the row), or ``keep`` the value as text.
ON_INVALID = ("quarantine", "null", "keep")
# What a transaction belongs to (the contract's ``belongs_to``), and the field that says so.
BELONGS_TO = {"account": "account_id", "card": "card_number", "customer": "customer_id"}


@dataclass(frozen=True)
class Field:
    name: str
    type: str = "string"
    format: str | None = None
    pii: str = "none"
    storage: str = "plain"  # plain | sealed
    blind_index: bool = False  # sealed fields only
    display_mask: bool = False  # sealed fields only
    required: bool = False
    references: str | None = None  # "<entity>.<field>" this field points at
    identifier: bool = False  # a key, a reference or an identity/card number: a bad value always quarantines
    # a key the export may not have: made from this field's blind index when the contract maps no column
    derived_from: str | None = None


@dataclass(frozen=True)
class Entity:
    name: str
    key: str
    fields: tuple[Field, ...]
    parents: tuple[str, ...] = field(default=())  # reference fields, checked in this order

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


CUSTOMERS = Entity(
    "customers",
    key="customer_id",
    fields=(
        Field("customer_id", required=True, identifier=True),
        Field("customer_type"),  # individual | corporate
        Field("name", pii="direct", storage="sealed", display_mask=True, required=True),
        Field("gender", format="gender", pii="quasi"),
        Field("birth_date", type="date", pii="quasi"),
        # the document type (handover.documents: resident_id, passport, uscc, …) says how id_number is checked
        Field("id_type", identifier=True),
        Field("id_number", format="document", pii="direct", storage="sealed", blind_index=True, display_mask=True,
              identifier=True),
        Field("id_expiry", type="date", format="expiry"),  # 证件有效期
        Field("uscc", format="uscc", pii="direct", storage="sealed", blind_index=True, display_mask=True,
              identifier=True),
        Field("mobile", format="mobile", pii="direct", storage="sealed", blind_index=True, display_mask=True),
        Field("landline", format="landline", pii="direct", storage="sealed"),
        Field("email", format="email", pii="direct", storage="sealed", blind_index=True, display_mask=True),
        Field("address", pii="direct", storage="sealed"),
        Field("nationality", format="country", pii="quasi"),
        Field("occupation", pii="quasi"),
        Field("customer_class"),  # the branch's own class of the customer (VIP, 金卡, 普通 …), as written
        Field("risk_level"),  # the branch's AML/KYC risk rating (低/中/高 …), as written
        Field("opened_on", type="date"),
        # the branch's own "last transaction / last contact" date (最近交易日期): the retention anchor takes
        # the greatest of it and the newest loaded transaction or interaction
        Field("last_activity", type="date"),
        Field("consent_transfer", type="boolean", required=True),
        Field("consent_on", type="date"),
    ),
)

ACCOUNTS = Entity(
    "accounts",
    key="account_id",
    parents=("customer_id",),
    fields=(
        Field("account_id", required=True, identifier=True),
        Field("customer_id", required=True, references="customers.customer_id", identifier=True),
        Field("card_number", format="bank_card", pii="direct", storage="sealed", blind_index=True, display_mask=True,
              identifier=True),
        Field("account_type"),
        Field("currency", format="currency"),
        Field("balance", type="amount", pii="sensitive", storage="sealed"),
        Field("opened_on", type="date"),
        Field("status"),
    ),
)

# A card file (卡片信息): cards issued on the branch's accounts, replaced and closed ones included (their old
# transactions still name them). Its key is the branch's card record number where the export has one;
# otherwise a keyed hash of the card number (never the number itself: keys are stored in plaintext).
CARDS = Entity(
    "cards",
    key="card_id",
    parents=("account_id", "customer_id"),
    fields=(
        Field("card_id", required=True, identifier=True, derived_from="card_number"),
        Field("card_number", format="bank_card", pii="direct", storage="sealed", blind_index=True, display_mask=True,
              required=True, identifier=True),
        Field("account_id", references="accounts.account_id", identifier=True),
        Field("customer_id", references="customers.customer_id", identifier=True),
        Field("card_type"),
        Field("status"),
        Field("issued_on", type="date"),
        Field("expires", pii="quasi"),  # as the card prints it (MM/YY)
    ),
)

TRANSACTIONS = Entity(
    "transactions",
    key="transaction_id",
    parents=("account_id", "customer_id"),
    fields=(
        Field("transaction_id", required=True, identifier=True),
        # One of these says whose a transaction is — the contract's ``belongs_to`` (account, card, customer)
        # picks which, and that one is required. A card number is resolved to its account when settling.
        Field("account_id", references="accounts.account_id", identifier=True),
        Field("card_number", format="bank_card", pii="direct", storage="sealed", blind_index=True, display_mask=True,
              identifier=True),
        Field("customer_id", references="customers.customer_id", identifier=True),
        Field("occurred_at", type="datetime", required=True),
        Field("amount", type="amount", required=True),
        Field("currency", format="currency"),
        Field("direction"),  # debit | credit
        Field("channel"),
        Field("counterparty", pii="sensitive", storage="sealed"),
        Field("memo", pii="free_text", storage="sealed"),
    ),
)

INTERACTIONS = Entity(
    "interactions",
    key="interaction_id",
    parents=("customer_id",),
    fields=(
        Field("interaction_id", required=True, identifier=True),
        Field("customer_id", required=True, references="customers.customer_id", identifier=True),
        Field("occurred_at", type="datetime"),
        Field("channel"),
        Field("staff_id"),
        Field("note", pii="free_text", storage="sealed"),
    ),
)

# Load order: parents before children.
ENTITIES: dict[str, Entity] = {e.name: e for e in (CUSTOMERS, ACCOUNTS, CARDS, TRANSACTIONS, INTERACTIONS)}


def entity(name: str) -> Entity:
    return ENTITIES[name]


# Code lists: what branches write → the canonical code. A value not listed is kept as written; the
# suites decide whether it is acceptable.
CODES: dict[str, dict[str, str]] = {
    "customer_type": {
        "个人": "individual", "个人客户": "individual", "对私": "individual", "i": "individual",
        "individual": "individual", "对公": "corporate", "企业": "corporate", "公司": "corporate",
        "单位": "corporate", "c": "corporate", "corporate": "corporate",
    },
    "direction": {"借": "debit", "支出": "debit", "出": "debit", "d": "debit", "debit": "debit",
                  "贷": "credit", "收入": "credit", "入": "credit", "c": "credit", "credit": "credit"},
    "currency": {"人民币": "CNY", "rmb": "CNY", "cny": "CNY", "美元": "USD", "usd": "USD", "港币": "HKD",
                 "港元": "HKD", "hkd": "HKD", "欧元": "EUR", "eur": "EUR", "日元": "JPY", "jpy": "JPY",
                 "英镑": "GBP", "gbp": "GBP", "澳门元": "MOP", "mop": "MOP"},
}


def codes(field_name: str) -> dict[str, str]:
    """The default code list of a field (branch spelling, lower-cased → canonical code); a contract's
    ``codes:`` adds to it. Document types come from :mod:`handover.documents`, which knows them."""
    if field_name == "id_type":
        from handover.documents import LABELS

        return {k.lower(): v for k, v in LABELS.items()}
    return CODES.get(field_name, {})
