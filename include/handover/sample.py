"""A synthetic branch export (网点导出) matching ``contracts/sample_branch.yaml``, with planted defects.

``generate(out_dir)`` writes the contract's four files, byte-for-byte the same for a given seed:

- ``客户信息.csv``  GB18030 (no BOM), CRLF: individuals (身份证) and ~10 % corporates (统一社会信用代码);
- ``账户信息.xlsx`` sheet ``账户`` (second sheet, after ``说明``): card numbers, balances as numbers or
  ``¥12,345.60`` text, opening dates as date cells or Excel serial integers;
- ``交易流水.csv``  UTF-8 with BOM, LF: times and amounts in several spellings;
- ``服务记录.csv``  UTF-8 (no BOM), LF: free-text notes that sometimes quote a name or a mobile.

Valid rows are messy the way real exports are (full-width digits, ``+86 138-0013-8000``, a lowercase
``x`` ending an ID, ``2024/1/5`` / ``2024年1月5日`` / ``20240105``, surrounding spaces): all of that must
normalise. The defects are planted on purpose, each on its own otherwise clean row, and the returned
dict says what was planted and how the pipeline must reconcile every entity: each source row ends up
exactly one of loaded / quarantined / excluded (no consent) / duplicates (exact copy collapsed).
All people, numbers and companies are invented.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import pathlib
import random
import re
import zipfile

FILES = {
    "customers": "客户信息.csv",
    "accounts": "账户信息.xlsx",
    "transactions": "交易流水.csv",
    "interactions": "服务记录.csv",
}
HEADERS = {
    "customers": [
        "客户编号",
        "客户类型",
        "姓名",
        "性别",
        "出生日期",
        "证件类型",
        "证件号码",
        "统一社会信用代码",
        "手机号码",
        "固定电话",
        "电子邮箱",
        "联系地址",
        "开户日期",
        "同意转移",
        "同意日期",
        "客户经理",
    ],
    "accounts": ["账号", "客户编号", "卡号", "账户类型", "币种", "余额", "开户日期", "状态"],
    "transactions": [
        "流水号",
        "账号",
        "客户编号",
        "交易时间",
        "交易金额",
        "币种",
        "借贷方向",
        "交易渠道",
        "对方户名",
        "摘要",
    ],
    "interactions": ["记录编号", "客户编号", "服务时间", "渠道", "柜员号", "备注"],
}
ACCOUNT_SHEET = "账户"
FIXED_TIME = dt.datetime(2026, 11, 29, 9, 0, 0)  # workbook properties and zip entry times

# --- checksums (private copies; the pipeline's own live in handover.validators) --------------------------
_RID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _resident_id_check_char(body17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, _RID_WEIGHTS)) % 11]


def _uscc_check_char(body17: str) -> str:
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body17, _USCC_WEIGHTS))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def _luhn_check_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


# --- vocabulary ------------------------------------------------------------------------------------------
_SURNAMES = list(
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶"
    "余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
) + ["欧阳", "司马", "诸葛", "上官"]
_GIVEN = list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红建文辉力鑫宇浩婷雪琳晨欣怡子轩梓涵诺思彤俊嘉博"
    "晓燕佳琪雨欣泽宏志国庆海波颖慧倩雅"
)
_RARE = ["䶮", "𠀾", "堃", "喆", "珺", "昇", "赟", "淼"]  # CJK ext A/B and uncommon BMP characters
_REGIONS = [
    "310115",
    "310104",
    "310101",
    "310112",
    "320102",
    "330106",
    "110105",
    "440106",
    "510104",
    "420106",
]
_ROADS = [
    "张江路",
    "碧波路",
    "科苑路",
    "祖冲之路",
    "郭守敬路",
    "高科中路",
    "晨晖路",
    "金科路",
    "川北公路",
    "博云路",
]
_FIRM_WORDS = [
    "恒通",
    "华信",
    "金桥",
    "瑞丰",
    "新纪元",
    "东方",
    "长江",
    "鑫源",
    "浦江",
    "明德",
    "远航",
    "嘉禾",
]
_FIRM_TRADES = ["贸易", "科技", "物流", "餐饮管理", "建筑工程", "信息技术", "医疗器械", "文化传媒"]
_MAIL_DOMAINS = ["163.com", "qq.com", "126.com", "sina.com", "outlook.com", "139.com"]
_MEMOS = ["工资", "转账", "消费", "取现", "还款", "代发工资", "房租", "水电费", "理财赎回", "利息"]
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# Customer-level defects, each planted on its own individual customer (quarantined unless noted).
_CUSTOMER_DEFECTS = {
    "resident_id_checksum": 2,
    "resident_id_birth_date": 1,
    "resident_id_scientific": 1,
    "gender_mismatch": 1,
    "mobile_invalid": 2,
    "email_invalid": 1,
    "name_missing": 1,
    "customer_date_unparseable": 1,
}


def _messy_date(rng: random.Random, d: dt.date) -> str:
    style = rng.choices(range(4), weights=(6, 2, 1, 1))[0]
    return (
        d.isoformat(),
        f"{d.year}/{d.month}/{d.day}",
        f"{d.year}年{d.month}月{d.day}日",
        d.strftime("%Y%m%d"),
    )[style]


def _rand_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange((end - start).days + 1))


class _Gen:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def person_name(self) -> str:
        r = self.rng
        given = "".join(r.choice(_GIVEN) for _ in range(r.choice((1, 2, 2))))
        if r.random() < 0.03:
            given = given[:-1] + r.choice(_RARE)
        return r.choice(_SURNAMES) + given

    def firm_name(self) -> str:
        return f"上海{self.rng.choice(_FIRM_WORDS)}{self.rng.choice(_FIRM_TRADES)}有限公司"

    def mobile(self) -> str:
        return self.rng.choice(
            ["138", "139", "135", "136", "150", "158", "186", "187", "177", "199"]
        ) + "".join(self.rng.choice("0123456789") for _ in range(8))

    def messy_mobile(self, m: str) -> str:
        style = self.rng.choices(range(5), weights=(12, 1, 1, 1, 1))[0]
        return (
            m,
            m.translate(_FULLWIDTH),
            f"+86 {m[:3]}-{m[3:7]}-{m[7:]}",
            f"{m[:3]} {m[3:7]} {m[7:]}",
            f" {m} ",
        )[style]

    def resident_id(self, birth: dt.date, male: bool, region: str | None = None) -> str:
        seq = self.rng.randrange(0, 100) * 10 + self.rng.choice((1, 3, 5, 7, 9) if male else (0, 2, 4, 6, 8))
        body = f"{region or self.rng.choice(_REGIONS)}{birth:%Y%m%d}{seq:03d}"
        return body + _resident_id_check_char(body)

    def uscc(self) -> str:
        body = "91310115MA1" + "".join(self.rng.choice(_USCC_ALPHABET) for _ in range(6))
        return body + _uscc_check_char(body)

    def card(self) -> str:
        body = "621700" + "".join(self.rng.choice("0123456789") for _ in range(12))
        return body + _luhn_check_digit(body)

    def address(self) -> str:
        r = self.rng
        return f"上海市浦东新区{r.choice(_ROADS)}{r.randint(1, 999)}弄{r.randint(1, 40)}号{r.randint(101, 2204)}室"

    def email(self) -> str:
        r = self.rng
        user = "".join(r.choice("abcdefghjkmnpqrstwxyz") for _ in range(r.randint(3, 7))) + str(
            r.randint(1, 999)
        )
        return f"{user}@{r.choice(_MAIL_DOMAINS)}"

    def customer(self, cid: str, corporate: bool) -> dict:
        r = self.rng
        opened = _rand_date(r, dt.date(2005, 1, 1), dt.date(2024, 12, 31))
        row = dict.fromkeys(HEADERS["customers"], "")
        row.update(
            {
                "客户编号": cid,
                "开户日期": _messy_date(r, opened),
                "同意转移": "是",
                "同意日期": _messy_date(r, _rand_date(r, dt.date(2026, 6, 1), dt.date(2026, 10, 31))),
                "客户经理": f"KM{r.randint(1, 20):03d}",
                "联系地址": self.address(),
            }
        )
        mobile = self.mobile()
        row["_mobile"] = mobile
        row["手机号码"] = self.messy_mobile(mobile)
        if r.random() < 0.3:
            row["固定电话"] = f"021-{r.randint(5000, 6899)}{r.randint(0, 9999):04d}"
        if corporate:
            row.update(
                {
                    "客户类型": "对公",
                    "姓名": self.firm_name(),
                    "统一社会信用代码": self.uscc(),
                    "固定电话": f"021-{r.randint(5000, 6899)}{r.randint(0, 9999):04d}",
                }
            )
            row["_name"] = row["姓名"]
            return row
        male = r.random() < 0.5
        birth = _rand_date(r, dt.date(1950, 1, 1), dt.date(2004, 12, 31))
        rid = self.resident_id(birth, male)
        name = self.person_name()
        row.update(
            {
                "客户类型": "个人",
                "姓名": f" {name} " if r.random() < 0.05 else name,
                "性别": "男" if male else "女",
                "出生日期": _messy_date(r, birth),
                "证件类型": "身份证",
                "证件号码": rid[:-1] + "x" if rid.endswith("X") and r.random() < 0.5 else rid,
            }
        )
        row["_name"], row["_birth"], row["_male"] = name, birth, male
        if r.random() < 0.7:
            row["电子邮箱"] = self.email()
        return row

    def plant(self, row: dict, defect: str) -> None:
        r = self.rng
        if defect == "resident_id_checksum":
            rid = row["证件号码"].upper()
            wrong = [c for c in "0123456789X" if c != rid[-1]]
            row["证件号码"] = rid[:-1] + r.choice(wrong)
        elif defect == "resident_id_birth_date":  # 2月30日: checksum recomputed, only the date is wrong
            body = f"{row['证件号码'][:6]}{row['_birth'].year}0230{row['证件号码'][14:17]}"
            row.update({"证件号码": body + _resident_id_check_char(body), "出生日期": ""})
        elif defect == "resident_id_scientific":
            row["证件号码"] = f"{float(row['证件号码'][:17] + '0'):.5E}"  # 4.40106E+17, as Excel shows it
        elif defect == "gender_mismatch":
            row["性别"] = "女" if row["_male"] else "男"
        elif defect == "mobile_invalid":
            row["手机号码"] = row["_mobile"] + str(r.randint(0, 9))  # 12 digits
        elif defect == "email_invalid":
            row["电子邮箱"] = r.choice(["zhang.wei#qq.com", "li@@163.com", "wangfang@"])
        elif defect == "name_missing":
            row["姓名"] = ""
        elif defect == "customer_date_unparseable":
            row["开户日期"] = "2024-13-45"
        elif defect == "uscc_checksum":
            uscc = row["统一社会信用代码"]
            row["统一社会信用代码"] = uscc[:-1] + r.choice([c for c in _USCC_ALPHABET if c != uscc[-1]])
        else:  # pragma: no cover
            raise ValueError(defect)


def _write_csv(path: pathlib.Path, header: list[str], rows: list[dict], encoding: str, newline: str) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header)
    w.writerows([row[h] for h in header] for row in rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def _write_xlsx(path: pathlib.Path, rows: list[dict]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    note = wb.active
    note.title = "说明"
    note["A1"] = "账户信息导出（示例数据，全部虚构）。数据在“账户”工作表。"
    ws = wb.create_sheet(ACCOUNT_SHEET)
    ws.append(HEADERS["accounts"])
    for row in rows:
        ws.append([row[h] for h in HEADERS["accounts"]])
        cell = ws.cell(row=ws.max_row, column=HEADERS["accounts"].index("开户日期") + 1)
        if isinstance(cell.value, dt.datetime):
            cell.number_format = "yyyy-mm-dd"
    wb.properties.creator = "handover.sample"
    wb.properties.created = wb.properties.modified = FIXED_TIME
    raw = io.BytesIO()
    wb.save(raw)
    # openpyxl stamps `modified` with the clock and the zip entries with mtimes: pin both.
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data
                )
            dst.writestr(
                zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6]),
                data,
                compress_type=zipfile.ZIP_DEFLATED,
            )
    path.write_bytes(out.getvalue())


def generate(out_dir: pathlib.Path, customers: int = 200, seed: int = 20261129) -> dict:
    """Write the four files into ``out_dir``; return what was planted and the expected reconciliation.

    The result holds ``rows`` (data rows written per entity), ``defects`` (defect name -> rows carrying
    it), ``planted`` (defect name -> keys of those rows), ``no_consent`` (customers excluded),
    ``cascade`` (per entity: rows quarantined/excluded only because of their parent) and ``expected``
    (per entity: source_rows, loaded, quarantined, excluded, duplicates).
    """
    if customers < 40:
        raise ValueError("need at least 40 customers to plant every defect on its own row")
    rng = random.Random(seed)
    g = _Gen(rng)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    corporate = set(rng.sample(range(customers), max(3, customers // 10)))
    cust_rows = [g.customer(f"C{i + 1:08d}", i in corporate) for i in range(customers)]
    individuals = [row for i, row in enumerate(cust_rows) if i not in corporate]
    corporates = [row for i, row in enumerate(cust_rows) if i in corporate]
    rng.shuffle(individuals)
    roles = [d for d, n in _CUSTOMER_DEFECTS.items() for _ in range(n)]
    roles += ["no_consent"] * max(2, round(customers * 0.05)) + ["exact_duplicate", "conflicting_duplicate"]
    role_of: dict[str, str] = {}  # customer id -> its single role
    for row, role in zip(individuals, roles):
        role_of[row["客户编号"]] = role
        if role in _CUSTOMER_DEFECTS:
            g.plant(row, role)
        elif role == "no_consent":
            row.update({"同意转移": "否", "同意日期": ""})
    role_of[corporates[0]["客户编号"]] = "uscc_checksum"
    g.plant(corporates[0], "uscc_checksum")
    role_of[corporates[1]["客户编号"]] = "no_consent"
    corporates[1].update({"同意转移": "否", "同意日期": ""})

    planted: dict[str, list[str]] = {}
    for cid, role in role_of.items():
        planted.setdefault(role, []).append(cid)
    by_id = {row["客户编号"]: row for row in cust_rows}
    extra_rows: list[dict] = []
    dup = by_id[planted["exact_duplicate"][0]]
    extra_rows.append(dict(dup))  # identical line
    conflict = dict(by_id[planted["conflicting_duplicate"][0]])
    conflict["手机号码"] = g.mobile()  # same 客户编号, another mobile
    extra_rows.append(conflict)
    planted["conflicting_duplicate"] = planted["conflicting_duplicate"] * 2
    clean = sorted(row["客户编号"] for row in cust_rows if row["客户编号"] not in role_of)
    for cid, rare in zip(rng.sample([c for c in clean if by_id[c]["证件类型"]], 2), ("𠀾", "䶮")):
        by_id[cid]["_name"] = by_id[cid]["姓名"] = by_id[cid]["_name"][0] + rare  # GB18030 4-byte / ext A

    # --- accounts, transactions, interactions -------------------------------------------------------------
    accounts, transactions, interactions = [], [], []
    channels = ["柜面", "手机银行", "ATM"]
    for row in cust_rows:
        cid = row["客户编号"]
        for _ in range(rng.choice((1, 1, 2))):
            aid = f"A{len(accounts) + 1:08d}"
            kind = rng.choice(("借记卡", "借记卡", "储蓄账户"))
            currency = "USD" if rng.random() < 0.08 else "CNY"
            balance = round(rng.uniform(0, 200000), 2)
            opened = dt.datetime.combine(
                _rand_date(rng, dt.date(2008, 1, 1), dt.date(2025, 6, 30)), dt.time()
            )
            accounts.append(
                {
                    "账号": aid,
                    "客户编号": cid,
                    "卡号": g.card() if kind == "借记卡" else "",
                    "账户类型": kind,
                    "币种": currency,
                    "余额": f"¥{balance:,.2f}" if currency == "CNY" and rng.random() < 0.4 else balance,
                    "开户日期": opened if rng.random() < 0.5 else (opened - dt.datetime(1899, 12, 30)).days,
                    "状态": "冻结" if rng.random() < 0.05 else "正常",
                }
            )
            for _ in range(rng.randint(2, 5)):
                t = dt.datetime(2024, 1, 1) + dt.timedelta(seconds=rng.randrange(365 * 86400))
                amount = round(rng.uniform(1, 20000), 2)
                credit = rng.random() < 0.45
                counter = rng.choice([g.person_name(), g.firm_name(), ""])
                memo = rng.choice(_MEMOS)
                if counter and rng.random() < 0.15:
                    memo = f"转账给{counter}"
                transactions.append(
                    {
                        "流水号": f"T{len(transactions) + 1:09d}",
                        "账号": aid,
                        "客户编号": cid,
                        "交易时间": t.strftime("%Y-%m-%d %H:%M:%S")
                        if rng.random() < 0.7
                        else f"{t.year}/{t.month}/{t.day} {t.hour}:{t.minute:02d}",
                        "交易金额": rng.choice([f"{amount:,.2f}", f"¥{amount:.2f}", f"{amount:.2f}"]),
                        "币种": currency,
                        "借贷方向": "贷" if credit else "借",
                        "交易渠道": rng.choice(channels),
                        "对方户名": counter,
                        "摘要": memo,
                    }
                )
        for _ in range(rng.choice((0, 0, 1, 2))):
            t = dt.datetime(2025, 1, 1) + dt.timedelta(seconds=rng.randrange(300 * 86400))
            note = rng.choice(
                [
                    f"客户{row['_name']}来电咨询，回拨{row['_mobile']}",
                    "办理挂失补卡",
                    "咨询理财产品",
                    f"更新联系电话为{row['_mobile']}",
                    "客户到柜面修改密码",
                    "投诉排队时间过长",
                ]
            )
            interactions.append(
                {
                    "记录编号": f"I{len(interactions) + 1:08d}",
                    "客户编号": cid,
                    "服务时间": t.strftime("%Y-%m-%d %H:%M"),
                    "渠道": rng.choice(["柜面", "电话", "手机银行"]),
                    "柜员号": f"G{rng.randint(1, 60):04d}",
                    "备注": note,
                }
            )

    # Child-level defects, on children of clean customers only.
    clean_set = set(clean)
    clean_cards = [a for a in accounts if a["客户编号"] in clean_set and a["卡号"]]
    for acc in rng.sample(clean_cards, 2):
        acc["卡号"] = acc["卡号"][:-1] + str((int(acc["卡号"][-1]) + rng.randint(1, 9)) % 10)
        planted.setdefault("card_luhn", []).append(acc["账号"])
    bad_accounts = set(planted["card_luhn"])
    clean_tx = [t for t in transactions if t["客户编号"] in clean_set and t["账号"] not in bad_accounts]
    picks = rng.sample(clean_tx, 3)
    for tx in picks[:2]:
        tx["交易金额"] = "abc元"
        planted.setdefault("amount_unparseable", []).append(tx["流水号"])
    transactions.append(dict(picks[2]))  # identical line
    planted["transaction_exact_duplicate"] = [picks[2]["流水号"]]
    planted["customer_exact_duplicate"] = planted.pop("exact_duplicate")
    loaded_cid = rng.choice(clean)
    orphan_acc = {**accounts[0], "账号": f"A{len(accounts) + 101:08d}", "客户编号": f"C{customers + 101:08d}"}
    orphan_acc["卡号"] = g.card()
    accounts.append(orphan_acc)
    orphan_tx = {
        **picks[2],
        "流水号": f"T{len(transactions) + 101:09d}",
        "账号": f"A{len(accounts) + 102:08d}",
    }
    orphan_tx["客户编号"] = loaded_cid
    transactions.append(orphan_tx)
    orphan_int = {
        "记录编号": f"I{len(interactions) + 101:08d}",
        "客户编号": f"C{customers + 102:08d}",
        "服务时间": "2025-06-01 10:00",
        "渠道": "电话",
        "柜员号": "G0007",
        "备注": "客户来电咨询开户进度",
    }
    interactions.append(orphan_int)
    planted.update(
        orphan_account=[orphan_acc["账号"]],
        orphan_transaction=[orphan_tx["流水号"]],
        orphan_interaction=[orphan_int["记录编号"]],
    )

    cust_rows = cust_rows + extra_rows
    _write_csv(out_dir / FILES["customers"], HEADERS["customers"], cust_rows, "gb18030", "\r\n")
    _write_xlsx(out_dir / FILES["accounts"], accounts)
    _write_csv(out_dir / FILES["transactions"], HEADERS["transactions"], transactions, "utf-8-sig", "\n")
    _write_csv(out_dir / FILES["interactions"], HEADERS["interactions"], interactions, "utf-8", "\n")

    # --- what the pipeline must conclude ----------------------------------------------------------------
    own_q = {
        "customers": {
            cid
            for d, keys in planted.items()
            if d in _CUSTOMER_DEFECTS or d in ("uscc_checksum", "conflicting_duplicate")
            for cid in keys
        },
        "accounts": bad_accounts | {orphan_acc["账号"]},
        "transactions": set(planted["amount_unparseable"]) | {orphan_tx["流水号"]},
        "interactions": {orphan_int["记录编号"]},
    }
    status = {"customers": {}, "accounts": {}}
    expected = {
        e: dict.fromkeys(("source_rows", "loaded", "quarantined", "excluded", "duplicates"), 0) for e in FILES
    }
    cascade = {
        e: {"parent_quarantined": 0, "parent_excluded": 0}
        for e in ("accounts", "transactions", "interactions")
    }

    def settle(entity: str, key: str, parent: str | None, seen: set) -> str:
        exp = expected[entity]
        exp["source_rows"] += 1
        if key in seen and key not in own_q[entity]:
            exp["duplicates"] += 1
            return status.get(entity, {}).get(key, "loaded")
        seen.add(key)
        if key in own_q[entity]:
            result = "quarantined"
        elif parent is None:  # a customer
            result = "excluded" if role_of.get(key) == "no_consent" else "loaded"
        else:
            result = parent if parent != "missing" else "quarantined"
            if parent in ("quarantined", "excluded"):
                cascade[entity]["parent_" + parent] += 1
        exp[result] += 1
        return result

    seen: set = set()
    for row in cust_rows:
        status["customers"][row["客户编号"]] = settle("customers", row["客户编号"], None, seen)
    seen = set()
    for acc in accounts:
        status["accounts"][acc["账号"]] = settle(
            "accounts", acc["账号"], status["customers"].get(acc["客户编号"], "missing"), seen
        )
    seen = set()
    for tx in transactions:
        settle("transactions", tx["流水号"], status["accounts"].get(tx["账号"], "missing"), seen)
    seen = set()
    for it in interactions:
        settle("interactions", it["记录编号"], status["customers"].get(it["客户编号"], "missing"), seen)

    no_consent = planted.pop("no_consent")
    return {
        "seed": seed,
        "rows": {e: expected[e]["source_rows"] for e in FILES},
        "defects": {d: len(keys) for d, keys in sorted(planted.items())},
        "planted": {d: sorted(keys) for d, keys in sorted(planted.items())},
        "no_consent": len(no_consent),
        "cascade": cascade,
        "expected": expected,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handover.sample", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args(argv)
    result = generate(args.out_dir, customers=args.customers, seed=args.seed)
    counts = ", ".join(
        f"{e} {x['source_rows']} (loaded {x['loaded']}, quarantined {x['quarantined']}, "
        f"excluded {x['excluded']}, duplicates {x['duplicates']})"
        for e, x in result["expected"].items()
    )
    planted = sum(result["defects"].values())
    print(f"wrote {args.out_dir} seed {args.seed}: {counts}; {planted} planted defect rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
