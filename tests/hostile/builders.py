"""Builders for the hostile corpus: a tiny contract, valid rows, and the bytes of CSV and XLSX files.

Every input is made here, in the test's tmp_path; no binary fixture is committed. The rows are valid
unless a test damages them, so whatever ends in quarantine is there because of the planted damage.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl
import yaml
from handover.validators import luhn_check_digit, resident_id_check_char, uscc_check_char

BRANCH = "HOSTILE-01"
R = "relationship"

CUSTOMER_COLUMNS = {
    "客户编号": {"field": "customer_id", "key": True, "required": True, "pii": "none", "retention": R},
    "姓名": {"field": "name", "required": True, "pii": "direct", "retention": R},
    "性别": {"field": "gender", "format": "gender", "pii": "quasi", "retention": R},
    "出生日期": {"field": "birth_date", "type": "date", "pii": "quasi", "retention": R},
    "证件类型": {"field": "id_type", "pii": "none", "retention": R},
    "证件号码": {"field": "id_number", "format": "resident_id", "pii": "direct", "retention": R},
    "统一社会信用代码": {"field": "uscc", "format": "uscc", "pii": "direct", "retention": R},
    "手机号码": {"field": "mobile", "format": "mobile", "pii": "direct", "retention": R},
    "同意转移": {"field": "consent_transfer", "type": "boolean", "required": True, "pii": "none", "retention": R},
    "客户经理": {"extra": "relationship_manager", "pii": "none", "retention": R},
}
ACCOUNT_COLUMNS = {
    "账号": {"field": "account_id", "key": True, "required": True, "pii": "none", "retention": R},
    "客户编号": {"field": "customer_id", "required": True, "pii": "none", "retention": R},
    "卡号": {"field": "card_number", "format": "bank_card", "pii": "direct", "retention": R},
    "余额": {"field": "balance", "type": "amount", "pii": "sensitive", "retention": R},
    "开户日期": {"field": "opened_on", "type": "date", "pii": "none", "retention": R},
}
INTERACTION_COLUMNS = {
    "记录编号": {"field": "interaction_id", "key": True, "required": True, "pii": "none", "retention": R},
    "客户编号": {"field": "customer_id", "required": True, "pii": "none", "retention": R},
    "服务时间": {"field": "occurred_at", "type": "datetime", "pii": "none", "retention": R},
    "备注": {"field": "note", "pii": "free_text", "retention": R},
}
COLUMNS = {"customers": CUSTOMER_COLUMNS, "accounts": ACCOUNT_COLUMNS, "interactions": INTERACTION_COLUMNS}
HEADERS = {entity: list(cols) for entity, cols in COLUMNS.items()}
FILES = {"customers": "客户信息.csv", "accounts": "账户信息.csv", "interactions": "服务记录.csv"}

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超"]


def write_contract(folder: Path, entities: dict[str, dict] | None = None, columns: dict | None = None,
                   name: str = "contract.yaml") -> Path:
    """A minimal contract for `entities` ({entity: source mapping}); the export lives beside it."""
    entities = entities or {"customers": csv_source("customers")}
    columns = columns or {}
    doc = {
        "contract_version": 1,
        "branch": {"id": BRANCH, "name": "测试支行"},
        "transfer": {
            "transferring_party": {"name": "示例商业银行", "uscc": "91310000MA1FL8LQ0T"},
            "receiving_party": {"name": "示例村镇银行", "uscc": "91310115MA1H7GXP4G"},
            "agreement": {"transfer": "ZR-1", "confidentiality": "BM-1"},
            "jurisdiction": "CN",
            "pipia": {"reference": "PIPIA-HOSTILE-1", "approver": "个人信息保护负责人"},
        },
        "retention": {R: {"keep": "5y", "after": "relationship_end"}},
        "source": {"location": "."},
        "entities": {e: {"source": src, "columns": columns.get(e, COLUMNS[e])} for e, src in entities.items()},
    }
    path = folder / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def csv_source(entity: str, encoding: str = "auto", file: str | None = None) -> dict:
    return {"file": file or FILES[entity], "format": "csv", "encoding": encoding}


def xlsx_source(entity: str, sheet: str = "数据", file: str | None = None) -> dict:
    return {"file": file or FILES[entity].replace(".csv", ".xlsx"), "format": "xlsx", "sheet": sheet}


# --- valid values ---------------------------------------------------------------------------------------

def resident_id(birth: dt.date, male: bool, serial: int = 12, region: str = "310115") -> str:
    body = f"{region}{birth:%Y%m%d}{serial % 100:02d}{(1 if male else 2) + 2 * (serial % 4)}"
    return body + resident_id_check_char(body)


def uscc(body: str = "91310115MA1H7GX") -> str:
    body = (body + "00000000")[:17]
    return body + uscc_check_char(body)


def bank_card(i: int) -> str:
    body = f"621700{i:012d}"
    return body + luhn_check_digit(body)


def customer(i: int, **override: str) -> dict[str, str]:
    """Customer C{i:04d}: a consenting individual whose every value passes validation."""
    birth = dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28)
    male = i % 2 == 0
    row = {
        "客户编号": f"C{i:04d}",
        "姓名": _SURNAMES[i % len(_SURNAMES)] + _GIVEN[i % len(_GIVEN)],
        "性别": "男" if male else "女",
        "出生日期": birth.isoformat(),
        "证件类型": "身份证",
        "证件号码": resident_id(birth, male, i),
        "统一社会信用代码": "",
        "手机号码": f"139{i:08d}",
        "同意转移": "是",
        "客户经理": "周经理",
    }
    row.update(override)
    return row


def account(i: int, customer_id: str, **override: str) -> dict[str, str]:
    row = {"账号": f"A{i:04d}", "客户编号": customer_id, "卡号": bank_card(i), "余额": f"{1000 + i}.50",
           "开户日期": "2015-06-01"}
    row.update(override)
    return row


def interaction(i: int, customer_id: str, **override: str) -> dict[str, str]:
    row = {"记录编号": f"I{i:04d}", "客户编号": customer_id, "服务时间": "2024-01-05 09:30:00",
           "备注": "客户来电咨询理财产品"}
    row.update(override)
    return row


def customers(n: int, start: int = 1) -> list[dict[str, str]]:
    return [customer(i) for i in range(start, start + n)]


# --- files ----------------------------------------------------------------------------------------------

def csv_lines(header: list[str], rows: list[dict | list], encoding: str = "utf-8",
              newline: str = "\r\n") -> list[bytes]:
    """The encoded lines of a CSV file (header first), each with its line break, ready to be damaged."""
    out = []
    for values in [header, *rows]:
        buf = io.StringIO()
        csv.writer(buf, lineterminator=newline).writerow(
            [values.get(h, "") for h in header] if isinstance(values, dict) else values)
        out.append(buf.getvalue().encode(encoding))
    return out


def write_csv(path: Path, header: list[str], rows: list[dict | list], encoding: str = "utf-8",
              newline: str = "\r\n") -> Path:
    path.write_bytes(b"".join(csv_lines(header, rows, encoding, newline)))
    return path


def workbook(sheets: dict[str, list[list]]) -> openpyxl.Workbook:
    """A workbook with the given sheets in order; every str cell is text, never a formula."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r, values in enumerate(rows, start=1):
            for c, value in enumerate(values, start=1):
                if value is None:
                    continue
                cell = ws.cell(row=r, column=c)
                cell.value = value
                if isinstance(value, str):
                    cell.data_type = "s"  # "=HYPERLINK(…)" stays text, as a branch's export holds it
    return wb


def table(header: list[str], rows: list[dict]) -> list[list]:
    return [header, *[[row.get(h) for h in header] for row in rows]]
