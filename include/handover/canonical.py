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
FORMATS = ("resident_id", "uscc", "bank_card", "mobile", "landline", "email", "gender", "currency")


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
        Field("customer_id", required=True),
        Field("customer_type"),  # individual | corporate
        Field("name", pii="direct", storage="sealed", display_mask=True, required=True),
        Field("gender", format="gender", pii="quasi"),
        Field("birth_date", type="date", pii="quasi"),
        Field("id_type"),  # resident_id | passport | permit | …; the resident-ID checks apply to resident_id
        Field("id_number", format="resident_id", pii="direct", storage="sealed", blind_index=True, display_mask=True),
        Field("uscc", format="uscc", pii="direct", storage="sealed", blind_index=True, display_mask=True),
        Field("mobile", format="mobile", pii="direct", storage="sealed", blind_index=True, display_mask=True),
        Field("landline", format="landline", pii="direct", storage="sealed"),
        Field("email", format="email", pii="direct", storage="sealed", blind_index=True, display_mask=True),
        Field("address", pii="direct", storage="sealed"),
        Field("opened_on", type="date"),
        Field("consent_transfer", type="boolean", required=True),
        Field("consent_on", type="date"),
    ),
)

ACCOUNTS = Entity(
    "accounts",
    key="account_id",
    parents=("customer_id",),
    fields=(
        Field("account_id", required=True),
        Field("customer_id", required=True, references="customers.customer_id"),
        Field("card_number", format="bank_card", pii="direct", storage="sealed", blind_index=True, display_mask=True),
        Field("account_type"),
        Field("currency", format="currency"),
        Field("balance", type="amount", pii="sensitive", storage="sealed"),
        Field("opened_on", type="date"),
        Field("status"),
    ),
)

TRANSACTIONS = Entity(
    "transactions",
    key="transaction_id",
    parents=("account_id", "customer_id"),
    fields=(
        Field("transaction_id", required=True),
        Field("account_id", required=True, references="accounts.account_id"),
        Field("customer_id", references="customers.customer_id"),
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
        Field("interaction_id", required=True),
        Field("customer_id", required=True, references="customers.customer_id"),
        Field("occurred_at", type="datetime"),
        Field("channel"),
        Field("staff_id"),
        Field("note", pii="free_text", storage="sealed"),
    ),
)

# Load order: parents before children.
ENTITIES: dict[str, Entity] = {e.name: e for e in (CUSTOMERS, ACCOUNTS, TRANSACTIONS, INTERACTIONS)}


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
    "id_type": {
        "身份证": "resident_id", "居民身份证": "resident_id", "01": "resident_id", "resident_id": "resident_id",
        "港澳台居民居住证": "residence_permit", "居住证": "residence_permit",
        "护照": "passport", "passport": "passport",
        "港澳居民来往内地通行证": "home_return_permit", "回乡证": "home_return_permit",
        "台湾居民来往大陆通行证": "mainland_travel_permit", "台胞证": "mainland_travel_permit",
        "外国人永久居留身份证": "foreign_permanent_resident", "营业执照": "business_licence",
    },
    "direction": {"借": "debit", "支出": "debit", "出": "debit", "d": "debit", "debit": "debit",
                  "贷": "credit", "收入": "credit", "入": "credit", "c": "credit", "credit": "credit"},
    "currency": {"人民币": "CNY", "rmb": "CNY", "cny": "CNY", "美元": "USD", "usd": "USD", "港币": "HKD",
                 "港元": "HKD", "hkd": "HKD", "欧元": "EUR", "eur": "EUR", "日元": "JPY", "jpy": "JPY",
                 "英镑": "GBP", "gbp": "GBP", "澳门元": "MOP", "mop": "MOP"},
}
# Documents whose number follows GB 11643 (the resident-ID checksum and embedded birth date apply).
RESIDENT_ID_DOCUMENTS = ("resident_id", "residence_permit")
