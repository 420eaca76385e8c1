"""Reason codes: why a row was quarantined or excluded, in Chinese and English (one place for all)."""

from __future__ import annotations

REASONS: dict[str, tuple[str, str]] = {
    "ragged_row": ("字段数与表头不符", "the row has more or fewer fields than the header"),
    "encoding_error": ("字节无法按声明编码解码", "bytes that do not decode in the declared encoding"),
    "unterminated_quote": ("引号未闭合，文件可能被截断", "a quoted field is never closed: the file may be truncated"),
    "blank_row": ("空白行（只有空格或分隔符）", "a row of blanks or delimiters only"),
    "control_character": ("含有控制字符（如NUL）", "control characters (such as NUL) in a value"),
    "repeated_header": ("文件中间重复出现表头（多个导出被拼接）", "the header repeated inside the file (exports joined)"),
    "stray_bom": ("文件中间出现字节顺序标记（BOM）", "a byte-order mark inside the file"),
    "oversized_field": ("字段超长", "a value longer than a field may be"),
    "excel_error": ("Excel错误值（如#N/A、#REF!）", "an Excel error value (#N/A, #REF!)"),
    "formula_like": ("疑似公式（=、+、-、@开头），可能为公式注入", "looks like a formula (=, +, -, @): possible formula injection"),
    "merged_cell": ("合并单元格", "a merged cell in the workbook"),
    "uncalculated_formula": ("公式无计算结果", "a formula without a stored result"),
    "unparseable_date": ("日期无法识别", "a date that cannot be read"),
    "unparseable_datetime": ("时间无法识别", "a date-time that cannot be read"),
    "unparseable_amount": ("金额无法识别", "an amount that cannot be read"),
    "unparseable_boolean": ("是/否值无法识别", "a yes/no value that cannot be read"),
    "unparseable_integer": ("整数无法识别", "a whole number that cannot be read"),
    "missing_required": ("必填项为空", "a required value is empty"),
    "invalid_resident_id": ("身份证号校验失败（校验码、出生日期或地区码）",
                            "resident ID number fails GB 11643 (check character, birth date or region)"),
    "id_scientific_notation": ("证件号被Excel转为科学计数法，数字已丢失",
                               "ID number turned into scientific notation by Excel; its digits are lost"),
    "card_scientific_notation": ("卡号被Excel转为科学计数法，数字已丢失",
                                 "card number turned into scientific notation by Excel; its digits are lost"),
    "gender_mismatch": ("性别与身份证号第17位不符", "gender disagrees with the ID number's 17th digit"),
    "birth_date_mismatch": ("出生日期与身份证号不符", "birth date disagrees with the ID number"),
    "invalid_uscc": ("统一社会信用代码校验失败", "Unified Social Credit Code fails GB 32100"),
    "invalid_bank_card": ("银行卡号校验失败（Luhn）", "bank card number fails the Luhn check"),
    "invalid_mobile": ("手机号码无效", "not a valid mainland mobile number"),
    "invalid_landline": ("固定电话无效", "not a valid mainland landline number"),
    "invalid_email": ("电子邮箱无效", "not a valid email address"),
    "invalid_gender": ("性别值无效", "not a known gender value"),
    "invalid_currency": ("币种无效", "not a known currency code"),
    "invalid_code": ("代码值不在允许范围", "a code value outside its list"),
    "conflicting_duplicate": ("同一编号存在内容不同的多条记录", "several records with one key and different content"),
    "orphan_reference": ("引用的上级记录不存在", "the record it refers to does not exist"),
    "parent_quarantined": ("上级记录被隔离，随之暂存", "held because the record it belongs to is quarantined"),
    "parent_mismatch": ("交易或卡片的客户与账户的客户不一致", "the transaction's (or card's) customer is not its account's"),
    "no_consent": ("客户未同意转移，不予转移", "the customer did not consent to the transfer"),
    "parent_excluded": ("上级客户未转移，随之排除", "excluded with the customer it belongs to"),
    "erased": ("客户数据已应其请求删除，不再转移", "the customer's data was erased on request (a tombstone names it)"),
    "partial_date": ("日期不完整（只有年或年月），合同未声明如何读取",
                     "a year or a month, not a day, and the contract does not say how to read it (partial_dates)"),
    "date_as_number": ("日期栏为数字，合同未声明为Excel序列日", ("a number in a date column, which the contract "
                                                          "does not declare as Excel serial days (excel_serial)")),
    "amount_precision": ("金额小数位超过币种允许位数", "more decimals than the amount's currency (or scale) allows"),
    "uscc_mismatch": ("证件号码中的统一社会信用代码与统一社会信用代码栏不一致",
                      "the USCC given as the document number and the USCC column differ"),
    "invalid_country": ("国籍/国家无法识别", "not a known country or nationality"),
    "unknown_card": ("交易卡号在本网点账户中找不到", "the transaction's card is on none of the branch's accounts"),
    "ambiguous_card": ("交易卡号对应多个账户", "the transaction's card is on several accounts"),
    # change files (handover.updates)
    "unknown_customer": ("变更文件中的客户不在本网点已迁移客户中", "the change file names a customer the vault does not hold"),
    "update_conflict": ("变更文件对同一客户有内容不同的多条变更", "the change file changes one customer in two different ways"),
}


def _documents() -> None:
    """The document types' own reasons (invalid_passport, unknown_document_type …), where they are defined."""
    from handover.documents import REASONS as DOCUMENT_REASONS

    for code, texts in DOCUMENT_REASONS.items():
        REASONS.setdefault(code, texts)


_documents()


def describe(code: str) -> tuple[str, str]:
    return REASONS.get(code, (code, code))
