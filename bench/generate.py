"""A large synthetic branch export (网点导出) for benchmarking, written fast with numpy.

``generate(out_dir)`` writes the four files of ``contracts/sample_branch.yaml`` plus ``bench_contract.yaml``
(the same contract, reading the files next to it, with the accounts as CSV: a sheet holds at most
1,048,576 rows):

- ``客户信息.csv``  GB18030, CRLF: individuals (身份证), ~97 % consenting to the transfer;
- ``账户信息.csv``  UTF-8, LF: one account (and one debit card) per customer;
- ``交易流水.csv``  UTF-8 with BOM, LF: ``transactions`` rows over the accounts, in time order;
- ``服务记录.csv``  UTF-8, LF: ``interactions`` rows over the customers, notes sometimes quoting a name
  and a mobile.

Unlike ``handover.sample`` the data is clean — valid checksums (GB 11643, Luhn), consistent gender,
birth dates and opening dates, one spelling per value type — except for a planted ~0.1 % of customers
with a wrong resident-ID check character and ~0.1 % with a 12-digit mobile, so that quarantine runs.

How it is fast: no Python loop runs per row. Every value is drawn as numbers; numbers become digits
through a lookup table; text comes from small vocabularies encoded once in the file's encoding. A chunk
of rows is laid out as a byte matrix of fixed-width slots padded with NUL bytes (which no value, in UTF-8
or GB18030, contains) and squeezed into CSV lines by dropping the NULs. Values never hold a delimiter,
quote or line break, so no quoting is needed.

Output is byte-for-byte the same for a given seed and sizes. All people, numbers and companies are
invented.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from functools import cache
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contracts" / "sample_branch.yaml"
CHUNK_ROWS = 100_000  # rows built at a time (~20 MB of slots): small enough for the allocator to reuse memory

FILES = {
    "customers": "客户信息.csv",
    "accounts": "账户信息.csv",
    "transactions": "交易流水.csv",
    "interactions": "服务记录.csv",
}
BENCH_CONTRACT = "bench_contract.yaml"
# (encoding, line ending, byte order mark) per file.
LAYOUT = {
    "customers": ("gb18030", b"\r\n", b""),
    "accounts": ("utf-8", b"\n", b""),
    "transactions": ("utf-8", b"\n", b"\xef\xbb\xbf"),
    "interactions": ("utf-8", b"\n", b""),
}
HEADERS = {
    "customers": ["客户编号", "客户类型", "姓名", "性别", "出生日期", "证件类型", "证件号码", "统一社会信用代码",
                  "手机号码", "固定电话", "电子邮箱", "联系地址", "开户日期", "同意转移", "同意日期", "客户经理"],
    "accounts": ["账号", "客户编号", "卡号", "账户类型", "币种", "余额", "开户日期", "状态"],
    "transactions": ["流水号", "账号", "客户编号", "交易时间", "交易金额", "币种", "借贷方向", "交易渠道",
                     "对方户名", "摘要"],
    "interactions": ["记录编号", "客户编号", "服务时间", "渠道", "柜员号", "备注"],
}
ID_RATE = 0.001  # customers whose resident ID has a wrong check character
MOBILE_RATE = 0.001  # customers whose mobile has 12 digits
CONSENT_RATE = 0.97

# --- vocabulary (pinyin alongside, for e-mail addresses) --------------------------------------------------
_SURNAMES = (
    "王wang 李li 张zhang 刘liu 陈chen 杨yang 赵zhao 黄huang 周zhou 吴wu 徐xu 孙sun 胡hu 朱zhu 高gao 林lin "
    "何he 郭guo 马ma 罗luo 梁liang 宋song 郑zheng 谢xie 韩han 唐tang 冯feng 于yu 董dong 萧xiao 程cheng "
    "曹cao 袁yuan 邓deng 许xu 傅fu 沈shen 曾zeng 彭peng 吕lv 苏su 卢lu 蒋jiang 蔡cai 贾jia 丁ding 魏wei "
    "薛xue 叶ye 余yu 潘pan 杜du 戴dai 夏xia 钟zhong 汪wang 田tian 任ren 姜jiang 范fan 方fang 石shi 姚yao "
    "谭tan 廖liao 邹zou 熊xiong 金jin 陆lu 郝hao 孔kong 白bai 崔cui 康kang 毛mao 邱qiu 秦qin 江jiang 史shi "
    "顾gu 侯hou 邵shao 孟meng 龙long 万wan 段duan 雷lei 钱qian 汤tang 尹yin 黎li 易yi 常chang 武wu "
    "乔qiao 贺he 赖lai 龚gong 文wen 欧阳ouyang 司马sima 诸葛zhuge 上官shangguan"
)
_GIVEN_MALE = (
    "伟wei 强qiang 磊lei 军jun 洋yang 勇yong 杰jie 涛tao 明ming 超chao 刚gang 建jian 文wen 辉hui 力li "
    "鑫xin 宇yu 浩hao 轩xuan 俊jun 博bo 泽ze 宏hong 志zhi 国guo 庆qing 海hai 波bo 斌bin 鹏peng 飞fei "
    "亮liang 成cheng 东dong 峰feng 子zi 嘉jia 晨chen 家jia 振zhen"
)
_GIVEN_FEMALE = (
    "芳fang 娜na 敏min 静jing 丽li 艳yan 娟juan 秀xiu 霞xia 桂gui 英ying 华hua 玉yu 萍ping 红hong 婷ting "
    "雪xue 琳lin 欣xin 怡yi 梓zi 涵han 诺nuo 思si 彤tong 晓xiao 燕yan 佳jia 琪qi 雨yu 颖ying 慧hui "
    "倩qian 雅ya 婉wan 春chun 凤feng 兰lan 子zi 嘉jia 晨chen 悦yue"
)
_GIVEN_RARE = "堃kun 喆zhe 珺jun 昇sheng 赟yun 淼miao 䶮yan 𠀾ji"  # uncommon BMP, CJK ext A and ext B
RARE_RATE = 0.003
# ID region (birthplace) codes, weighted towards the branch's own district.
_REGIONS = ((310115, 30), (310104, 6), (310101, 4), (310112, 5), (110105, 6), (440106, 5), (330106, 5),
            (510107, 4), (320102, 4), (420106, 4), (370102, 3), (410105, 3), (430102, 3), (350203, 3),
            (610113, 3), (210102, 2), (500103, 3), (340104, 2), (120101, 2), (230102, 2))
# Where customers live: district, area code, weight, roads.
_CITIES = (
    ("上海市浦东新区", "021", 60, ("张江路 碧波路 科苑路 祖冲之路 郭守敬路 高科中路 晨晖路 金科路 川北公路 博云路 "
                                  "浦东大道 世纪大道 锦绣路 杨高中路")),
    ("上海市徐汇区", "021", 8, "漕溪北路 天钥桥路 虹桥路 肇嘉浜路 宜山路"),
    ("上海市闵行区", "021", 8, "莘庄路 七莘路 沪闵路 都市路"),
    ("北京市朝阳区", "010", 7, "建国路 朝阳北路 望京街 东三环中路"),
    ("杭州市西湖区", "0571", 6, "文三路 学院路 天目山路 古墩路"),
    ("广州市天河区", "020", 6, "天河路 体育西路 黄埔大道 中山大道"),
    ("成都市武侯区", "028", 5, "人民南路 武侯祠大街 科华北路 一环路南四段"),
)
_MAIL_DOMAINS = (("qq.com", 30), ("163.com", 25), ("126.com", 10), ("sina.com", 5), ("outlook.com", 5),
                 ("139.com", 8), ("foxmail.com", 7), ("aliyun.com", 4), ("hotmail.com", 3), ("yeah.net", 3))
_MOBILE_PREFIXES = (130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158,
                    159, 166, 173, 175, 176, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198, 199)
_FIRM_CITIES = "上海 北京 深圳 杭州 广州 苏州"
_FIRM_WORDS = "恒通 华信 金桥 瑞丰 新纪元 东方 长江 鑫源 浦江 明德 远航 嘉禾 盛世 同创 汇丰达 锦程"
_FIRM_TRADES = "贸易 科技 物流 餐饮管理 建筑工程 信息技术 医疗器械 文化传媒 超市 电子商务 物业管理 教育咨询"
_CARD_BINS = (621700, 622202, 622848, 621661, 622262, 621483, 623668, 622588)
_ACCOUNT_TYPES = (("借记卡", 85), ("储蓄账户", 15))
_ACCOUNT_STATUS = (("正常", 97), ("冻结", 1.5), ("久悬", 1.5))
_TX_CHANNELS = (("手机银行", 65), ("柜面", 15), ("ATM", 20))
# memo, direction (借 debit / 贷 credit), counterparty (0 none, 1 person, 2 firm), median yuan, weight
_MEMOS = (
    ("消费", "借", 2, 150, 30), ("快捷支付", "借", 2, 80, 15), ("转账", "借", 1, 1000, 12),
    ("转账", "贷", 1, 1000, 10), ("还款", "借", 2, 3000, 5), ("水电费", "借", 2, 200, 4),
    ("房租", "借", 1, 4000, 3), ("代发工资", "贷", 2, 12000, 6), ("工资", "贷", 2, 10000, 3),
    ("利息", "贷", 0, 20, 3), ("理财赎回", "贷", 0, 20000, 2), ("理财购买", "借", 0, 20000, 2),
    ("退款", "贷", 2, 150, 3), ("报销", "贷", 2, 800, 2),
)
_ATM_MEMOS = (("取现", "借", 85), ("存现", "贷", 15))
_INTERACTION_CHANNELS = (("柜面", 50), ("电话", 35), ("手机银行", 15))
# note: text before the name, quotes the customer's name, text after it, ends with the customer's mobile
_NOTES = (
    ("客户", True, "来电咨询，回拨", True, 8), ("", False, "更新联系电话为", True, 8),
    ("客户", True, "办理挂失补卡", False, 10), ("", False, "咨询理财产品", False, 15),
    ("", False, "客户到柜面修改密码", False, 12), ("", False, "投诉排队时间过长", False, 5),
    ("", False, "咨询贷款利率", False, 8), ("", False, "办理大额取现预约", False, 6),
    ("", False, "激活手机银行", False, 10), ("", False, "咨询账户转移事宜", False, 10),
    ("客户", True, "要求更换预留手机号，新号码", True, 4),
)
_TX_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 10, 10, 9, 9, 9, 9, 9, 9, 9, 8, 6, 4, 2)

_RID_WEIGHTS = np.array((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), np.int32)
_RID_CHECK = np.frombuffer(b"10X98765432", np.uint8)
_ID_ALPHABET = np.frombuffer(b"0123456789X", np.uint8)
_LUHN_DOUBLE = np.array((0, 2, 4, 6, 8, 1, 3, 5, 7, 9), np.int32)
_EPOCH = np.datetime64("1970-01-01", "D")


def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - _EPOCH).astype(np.int64))


BIRTH_FIRST, BIRTH_MODE, BIRTH_LAST = _day("1940-01-01"), _day("1978-01-01"), _day("2005-12-31")
OPENED_FIRST, OPENED_LAST = _day("2000-01-01"), _day("2025-06-30")
CONSENT_FIRST, CONSENT_LAST = _day("2026-06-01"), _day("2026-10-31")
TX_FIRST, TX_LAST = _day("2024-01-01"), _day("2025-10-31")
INTERACTION_FIRST, INTERACTION_LAST = _day("2025-01-01"), _day("2026-10-31")
ADULT_DAYS = 6575  # 18 years


# --- numbers to bytes: lookup tables, so that no row costs a Python call ----------------------------------
_D4 = np.array([f"{i:04d}".encode() for i in range(10_000)], "S4").view(np.uint32)  # "0000".."9999" as words
_TABLE_FIRST = _day("1900-01-01")
_TABLE_DAYS = np.arange(_TABLE_FIRST, _day("2100-01-01"), dtype=np.int64)
_DATE_TEXT = np.datetime_as_string(_TABLE_DAYS.astype("M8[D]")).astype("S10")  # b"1900-01-01" …
_YMD = np.char.replace(_DATE_TEXT, b"-", b"").astype(np.int64)  # 19000101 …
_TIME_TEXT = np.array([f"{h:02d}:{m:02d}:{s:02d}".encode() for h in range(24) for m in range(60) for s in range(60)],
                      "S8")


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded ASCII digits of non-negative integers: an (n, width) uint8 matrix (a view)."""
    v = np.asarray(values, np.int64)
    groups = -(-width // 4)
    words = np.empty((len(v), groups), np.uint32)
    for g in range(groups - 1, -1, -1):
        words[:, g] = _D4[v % 10_000]
        v = v // 10_000
    return words.view(np.uint8).reshape(len(words), 4 * groups)[:, 4 * groups - width:]


def _number(values: np.ndarray, width: int) -> np.ndarray:
    """Digits without leading zeros (NULs there instead): an (n, width) uint8 matrix."""
    v = np.asarray(values, np.int64)
    out = _digits(v, width)
    n_digits = np.ones(len(v), np.int64)
    for k in range(1, width):
        n_digits += v >= 10**k
    out[np.arange(width) < (width - n_digits)[:, None]] = 0
    return out


def _ymd(days: np.ndarray) -> np.ndarray:
    """Day numbers (days since 1970-01-01, 1900–2099) as YYYYMMDD integers."""
    return _YMD[np.asarray(days, np.int64) - _TABLE_FIRST]


def _date(days: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD`` (an ``S10`` array)."""
    return _DATE_TEXT[np.asarray(days, np.int64) - _TABLE_FIRST]


def _datetime(seconds: np.ndarray) -> tuple:
    """``YYYY-MM-DD HH:MM:SS`` (seconds since 1970), as the parts of a field."""
    days, second_of_day = np.divmod(np.asarray(seconds, np.int64), 86_400)
    return _date(days), b" ", _TIME_TEXT[second_of_day]


def _resident_id_check(body: np.ndarray) -> np.ndarray:
    """GB 11643 check characters (uint8) for an (n, 17) matrix of ASCII digits."""
    total = (body.astype(np.int32) - 48) @ _RID_WEIGHTS
    return _RID_CHECK[total % 11]


def _luhn_check(body: np.ndarray) -> np.ndarray:
    """Luhn check digits (ASCII uint8) for an (n, k) matrix of ASCII digits; doubled: the rightmost, every second."""
    d = body.astype(np.int32) - 48
    k = d.shape[1]
    total = _LUHN_DOUBLE[d[:, k - 1::-2]].sum(axis=1) + d[:, k - 2::-2].sum(axis=1)
    return ((10 - total % 10) % 10 + 48).astype(np.uint8)


# --- vocabularies -------------------------------------------------------------------------------------------
def _split_pinyin(words: str) -> tuple[list[str], list[str]]:
    pairs = [re.fullmatch(r"([^a-z]+)([a-z]+)", w) for w in words.split()]
    return [m.group(1) for m in pairs], [m.group(2) for m in pairs]


class _Vocab:
    """The vocabularies, encoded once per output encoding as NUL-padded fixed-width byte arrays."""

    def __init__(self, encoding: str):
        self.encoding = encoding
        surnames, surname_py = _split_pinyin(_SURNAMES)
        male, male_py = _split_pinyin(_GIVEN_MALE)
        female, female_py = _split_pinyin(_GIVEN_FEMALE)
        rare, rare_py = _split_pinyin(_GIVEN_RARE)
        self.n_surnames, self.n_male, self.n_female, self.n_rare = len(surnames), len(male), len(female), len(rare)
        # given-name vocabulary: male, female, rare, then "" (no second character)
        self.surname, self.surname_py = self.enc(surnames), self.enc(surname_py)
        self.given = self.enc(male + female + rare + [""])
        self.given_py = self.enc(male_py + female_py + rare_py + [""])
        self.no_given = len(male) + len(female) + len(rare)
        self.city = self.enc([c[0] for c in _CITIES])
        self.area = self.enc([c[1] for c in _CITIES])
        roads = [r.split() for *_, r in _CITIES]
        self.road = self.enc([r for rs in roads for r in rs])
        self.road_first = np.cumsum([0] + [len(rs) for rs in roads[:-1]])
        self.road_count = np.array([len(rs) for rs in roads])
        self.domain = self.enc(["@" + d for d, _ in _MAIL_DOMAINS])
        self.firm_city, self.firm_word, self.firm_trade = (
            self.enc(s.split()) for s in (_FIRM_CITIES, _FIRM_WORDS, _FIRM_TRADES))
        self.account_type = self.enc([t for t, _ in _ACCOUNT_TYPES])
        self.account_status = self.enc([t for t, _ in _ACCOUNT_STATUS])
        self.tx_channel = self.enc([t for t, _ in _TX_CHANNELS])
        self.memo = self.enc([m[0] for m in _MEMOS] + [m[0] for m in _ATM_MEMOS])
        self.direction = self.enc(["借", "贷"])
        self.int_channel = self.enc([t for t, _ in _INTERACTION_CHANNELS])
        self.note_pre = self.enc([n[0] for n in _NOTES])
        self.note_mid = self.enc([n[2] for n in _NOTES])
        self.gender = self.enc(["女", "男"])
        self.consent = self.enc(["否", "是"])
        self.address_mark = self.enc(["号", "弄", "室"])

    def enc(self, words: list[str]) -> np.ndarray:
        raw = [w.encode(self.encoding) for w in words]
        return np.array(raw, dtype=f"S{max(1, *map(len, raw))}")

    def const(self, text: str) -> bytes:
        return text.encode(self.encoding)


@cache
def _vocab(encoding: str) -> _Vocab:
    return _Vocab(encoding)


# --- rows as fixed-width slots --------------------------------------------------------------------------------
class _Lines:
    """Rows laid out as fixed-width slots padded with NUL; ``render`` drops the NULs to give CSV lines."""

    def __init__(self, n: int, eol: bytes):
        self.n, self.eol = n, eol
        self.fields: list[tuple] = []

    def field(self, *parts) -> None:
        """One CSV field made of parts: bytes (the same in every row), ``S`` arrays or uint8 matrices."""
        self.fields.append(parts)

    def render(self) -> bytearray:
        pieces: list[np.ndarray] = []
        for i, parts in enumerate(self.fields):
            pieces.extend(_m(p) for p in ((b",",) if i else ()) + parts)
        pieces.append(_m(self.eol))
        width = sum(p.shape[1] for p in pieces)
        buf = bytearray(self.n * width)
        out = np.frombuffer(buf, np.uint8).reshape(self.n, width)
        pos = 0
        for p in pieces:
            out[:, pos:pos + p.shape[1]] = p
            pos += p.shape[1]
        del out
        return buf.translate(None, b"\0")  # several times faster than a boolean mask


def _m(values) -> np.ndarray:
    """A field part as a uint8 matrix: bytes as one row (broadcast), an ``S`` array as (n, itemsize)."""
    if isinstance(values, bytes):
        return np.frombuffer(values, np.uint8)[None, :]
    if values.dtype.kind == "S":
        return values.view(np.uint8).reshape(len(values), values.dtype.itemsize)
    return values


def _blank(values: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """``values`` (a fresh array: changed in place) as a matrix, cleared where ``empty`` holds."""
    matrix = _m(values)
    matrix[empty] = 0
    return matrix


def _or_blank(keep: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``keep`` holds, else empty (``S`` arrays)."""
    return np.where(keep, values, b"")


def _amount(cents: np.ndarray, width: int) -> tuple:
    """``12345.67`` (no grouping, two decimals; at most ``width`` digits before the point): field parts."""
    return _number(cents // 100, width), b".", _digits(cents % 100, 2)


@cache
def _table(weights: tuple) -> np.ndarray:
    """Indices repeated in proportion to ``weights`` (out of 10,000): draw one uniformly to draw by weight."""
    w = np.asarray(weights, np.float64)
    return np.repeat(np.arange(len(w), dtype=np.int32), np.maximum(1, np.round(w / w.sum() * 10_000)).astype(int))


def _choice(rng: np.random.Generator, items, n: int) -> np.ndarray:
    """Indices into ``items``, drawn by the weight each item ends with."""
    table = _table(tuple(float(item[-1]) for item in items))
    return table[rng.integers(0, len(table), n)]


# --- the people ---------------------------------------------------------------------------------------------
def _redraw_duplicates(key, redraw) -> None:
    """Redraw (in place, through ``redraw(mask)``) the rows whose ``key()`` repeats an earlier row's."""
    while True:
        k = key()
        _, first = np.unique(k, return_index=True)
        dup = np.ones(len(k), bool)
        dup[first] = False
        if not dup.any():
            return
        redraw(dup)


def _surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    k = _vocab("utf-8").n_surnames
    w = 1.0 / (np.arange(k) + 8.0)  # the common surnames come first
    w[-4:] = w[-1] * 0.05  # the compound ones are rare
    return _choice(rng, [(x,) for x in w], n)


def _given(rng: np.random.Generator, male: np.ndarray, single_rate: float = 0.0) -> np.ndarray:
    """Given-name characters by sex; ``single_rate`` of them the empty one (a one-character given name)."""
    v, n = _vocab("utf-8"), len(male)
    given = np.where(male, rng.integers(0, v.n_male, n), v.n_male + rng.integers(0, v.n_female, n))
    if single_rate:
        given[rng.random(n) < single_rate] = v.no_given
    return given


def _customers_core(n: int, seed: int) -> dict[str, np.ndarray]:
    """What the other entities need to know of the customers: names, mobiles, dates, consent, defects."""
    rng = np.random.default_rng([seed, 1])
    v = _vocab("utf-8")
    male = rng.random(n) < 0.5
    birth = np.floor(rng.triangular(BIRTH_FIRST, BIRTH_MODE, BIRTH_LAST + 1, n)).astype(np.int64)
    region = np.array([r for r, _ in _REGIONS], np.int64)[_choice(rng, _REGIONS, n)]
    seq = rng.integers(0, 500, n) * 2 + male  # 15th–17th digits; the 17th is odd for men

    def id_body() -> np.ndarray:
        return region * 10**11 + _ymd(birth) * 1000 + seq

    def new_seq(dup: np.ndarray) -> None:
        seq[dup] = rng.integers(0, 500, int(dup.sum())) * 2 + male[dup]

    _redraw_duplicates(id_body, new_seq)  # resident IDs are unique

    surname, given1, given2 = _surnames(rng, n), _given(rng, male), _given(rng, male, 0.3)
    rare = rng.random(n) < RARE_RATE
    given2[rare] = v.n_male + v.n_female + rng.integers(0, v.n_rare, int(rare.sum()))

    prefixes = np.array(_MOBILE_PREFIXES, np.int64)

    def mobiles(k: int) -> np.ndarray:
        return prefixes[rng.integers(0, len(prefixes), k)] * 10**8 + rng.integers(0, 10**8, k)

    mobile = mobiles(n)
    _redraw_duplicates(lambda: mobile, lambda dup: mobile.__setitem__(dup, mobiles(int(dup.sum()))))

    first = np.maximum(birth + ADULT_DAYS, OPENED_FIRST)
    opened = first + np.floor(rng.random(n) * (OPENED_LAST + 1 - first)).astype(np.int64)
    consent = rng.random(n) < CONSENT_RATE
    # The defects, each on its own consenting customer.
    candidates = np.flatnonzero(consent)
    n_id = min(len(candidates), max(1, round(n * ID_RATE)))
    n_mobile = min(len(candidates) - n_id, max(1, round(n * MOBILE_RATE)))
    picked = rng.choice(candidates, n_id + n_mobile, replace=False)
    bad_id, bad_mobile = np.zeros(n, bool), np.zeros(n, bool)
    bad_id[picked[:n_id]] = True
    bad_mobile[picked[n_id:]] = True
    return {
        "male": male, "birth": birth, "id_body": id_body(), "surname": surname, "given1": given1,
        "given2": given2, "mobile": mobile, "opened": opened, "consent": consent, "bad_id": bad_id,
        "bad_mobile": bad_mobile,
    }


def _customer_lines(core: dict, lo: int, hi: int, seed: int, chunk: int, eol: bytes) -> _Lines:
    v = _vocab(LAYOUT["customers"][0])
    n = hi - lo
    c = {k: a[lo:hi] for k, a in core.items()}
    rng = np.random.default_rng([seed, 11, chunk])
    lines = _Lines(n, eol)
    lines.field(b"C", _digits(np.arange(lo + 1, hi + 1), 9))
    lines.field(v.const("个人"))
    lines.field(v.surname[c["surname"]], v.given[c["given1"]], v.given[c["given2"]])
    lines.field(v.gender[c["male"].astype(np.int8)])
    lines.field(_date(c["birth"]))
    lines.field(v.const("身份证"))
    body = _digits(c["id_body"], 17)
    check = _resident_id_check(body)
    bad = c["bad_id"]
    if bad.any():  # a wrong check character: any of the other ten
        right = np.where(check[bad] == ord("X"), 10, check[bad].astype(np.int64) - 48)
        check[bad] = _ID_ALPHABET[(right + rng.integers(1, 11, int(bad.sum()))) % 11]
    lines.field(body, check[:, None])
    lines.field()  # 统一社会信用代码: individuals have none
    twelfth = np.zeros((n, 1), np.uint8)  # a planted defect: a 12-digit mobile
    twelfth[c["bad_mobile"], 0] = ord("0") + rng.integers(0, 10, int(c["bad_mobile"].sum()))
    lines.field(_digits(c["mobile"], 11), twelfth)

    city = _choice(rng, [(w,) for _, _, w, _ in _CITIES], n)
    has_landline = rng.random(n) < 0.3
    local = rng.integers(2, 9, n) * 10**7 + rng.integers(0, 10**7, n)  # 8 digits, not starting 0 or 1
    lines.field(_or_blank(has_landline, v.area[city]), _or_blank(has_landline, np.array(b"-")),
                _blank(_digits(local, 8), ~has_landline))

    style = rng.random(n)  # the mailbox: pinyin + birth year / + 2-digit year / + 3 digits / bare pinyin
    year = _ymd(c["birth"]) // 10_000
    suffix = _digits(np.where(style < 0.4, year, np.where(style < 0.6, year % 100, rng.integers(100, 1000, n))), 4)
    keep = np.where(style < 0.4, 4, np.where(style < 0.6, 2, np.where(style < 0.85, 3, 0)))
    no_email = rng.random(n) >= 0.7
    suffix[(np.arange(4) < (4 - keep)[:, None]) | no_email[:, None]] = 0
    lines.field(*(_blank(p, no_email) for p in (
        v.surname_py[c["surname"]], v.given_py[c["given1"]], v.given_py[c["given2"]])),
        suffix, _blank(v.domain[_choice(rng, _MAIL_DOMAINS, n)], no_email))

    road = v.road_first[city] + np.floor(rng.random(n) * v.road_count[city]).astype(np.int64)
    lane = rng.random(n) < 0.6  # 张江路123弄45号1203室, else 张江路888号1203室
    room = rng.integers(1, 34, n) * 100 + rng.integers(1, 5, n)
    lines.field(v.city[city], v.road[road], _number(rng.integers(1, 1000, n), 3),
                v.address_mark[lane.astype(np.int8)], _blank(_number(rng.integers(1, 81, n), 2), ~lane),
                _or_blank(lane, v.address_mark[0]), _number(room, 4), v.address_mark[2])
    lines.field(_date(c["opened"]))
    lines.field(v.consent[c["consent"].astype(np.int8)])
    lines.field(_blank(_date(rng.integers(CONSENT_FIRST, CONSENT_LAST + 1, n)), ~c["consent"]))
    lines.field(b"KM", _digits(rng.integers(1, 41, n), 3))
    return lines


def _scramble(index: np.ndarray, key: int) -> np.ndarray:
    """A keyed bijection of [0, 10^12) (a 4-round Feistel network on two 6-digit halves): distinct account
    numbers give distinct, random-looking card serials."""
    left, right = np.divmod(np.asarray(index, np.int64) % 10**12, 10**6)
    for k in range(4):
        mixed = (right * 7_919 + (key >> (10 * k)) % 1_000_003) % 1_000_003
        left, right = right, (left + mixed * mixed % 10**6) % 10**6
    return left * 10**6 + right


def _account_lines(core: dict, lo: int, hi: int, seed: int, chunk: int, eol: bytes, card_key: int) -> _Lines:
    v = _vocab(LAYOUT["accounts"][0])
    n = hi - lo
    rng = np.random.default_rng([seed, 12, chunk])
    number = _digits(np.arange(lo + 1, hi + 1), 9)
    lines = _Lines(n, eol)
    lines.field(b"A", number)
    lines.field(b"C", number)
    # 6-digit BIN (all 62…, UnionPay) + 12 digits unique per account + the Luhn digit.
    bins = np.array(_CARD_BINS, np.int64)[rng.integers(0, len(_CARD_BINS), n)]
    body = _digits(bins * 10**12 + _scramble(np.arange(lo, hi), card_key), 18)
    lines.field(body, _luhn_check(body)[:, None])
    lines.field(v.account_type[_choice(rng, _ACCOUNT_TYPES, n)])
    lines.field(b"CNY")
    balance = np.floor(np.exp(rng.normal(np.log(2_000_000), 1.6, n))).astype(np.int64)  # cents, median 20,000
    lines.field(*_amount(np.minimum(balance, 10**11 - 1), 9))
    lines.field(_date(core["opened"][lo:hi]))
    lines.field(v.account_status[_choice(rng, _ACCOUNT_STATUS, n)])
    return lines


def _in_time_order(rng, owner: np.ndarray, opened: np.ndarray, first: int, last: int, hours) -> tuple:
    """A time for every row (on or after its owner's opening day), the rows sorted by time."""
    lo = np.maximum(opened[owner], first)
    day = lo + np.floor(rng.random(len(owner)) * (last + 1 - lo)).astype(np.int64)
    hour = _choice(rng, [(w,) for w in hours], len(owner))
    seconds = day * 86_400 + hour * 3600 + rng.integers(0, 3600, len(owner))
    base = first * 86_400
    when, owner = np.divmod(np.sort((seconds - base) * len(opened) + owner), len(opened))
    return owner, when + base


def _transactions_plan(n_tx: int, core: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Which account each transaction hits (some accounts far busier than others) and when, in time order."""
    rng = np.random.default_rng([seed, 3])
    n_acc = len(core["opened"])
    activity = np.cumsum(np.exp(rng.normal(0.0, 1.0, n_acc)))
    # sorted draws make the search fast; the rows are put in time order afterwards anyway
    account = np.searchsorted(activity, np.sort(rng.random(n_tx)) * activity[-1], side="right")
    return _in_time_order(rng, np.minimum(account, n_acc - 1), core["opened"], TX_FIRST, TX_LAST,
                          _TX_HOUR_WEIGHTS)


def _transaction_lines(plan: tuple, lo: int, hi: int, seed: int, chunk: int, eol: bytes) -> _Lines:
    v = _vocab(LAYOUT["transactions"][0])
    n = hi - lo
    account, when = plan[0][lo:hi], plan[1][lo:hi]
    rng = np.random.default_rng([seed, 13, chunk])
    lines = _Lines(n, eol)
    lines.field(b"T", _digits(np.arange(lo + 1, hi + 1), 10))
    number = _digits(account + 1, 9)
    lines.field(b"A", number)
    lines.field(b"C", number)
    lines.field(*_datetime(when))
    channel = _choice(rng, _TX_CHANNELS, n)
    hour = when // 3600 % 24
    channel[(channel == 1) & ((hour < 9) | (hour >= 17))] = 0  # the counter is open 9:00–17:00
    atm = channel == 2
    memo = np.where(atm, len(_MEMOS) + _choice(rng, _ATM_MEMOS, n), _choice(rng, _MEMOS, n))
    table = _MEMOS + tuple((m, d, 0, 0, w) for m, d, w in _ATM_MEMOS)
    credit = np.array([m[1] == "贷" for m in table])[memo]
    median = np.array([m[3] for m in table], np.float64)[memo]
    cents = np.minimum(np.floor(median * 100 * np.exp(rng.normal(0.0, 0.9, n))).astype(np.int64), 10**10 - 1)
    cents = np.where(atm, rng.integers(1, 31, n) * 10_000, np.maximum(cents, 1))  # ATM: whole hundreds
    lines.field(*_amount(cents, 8))
    lines.field(b"CNY")
    lines.field(v.direction[credit.astype(np.int8)])
    lines.field(v.tx_channel[channel])
    kind = np.array([m[2] for m in table])[memo]  # 0 nobody, 1 a person, 2 a company
    person, firm = kind == 1, kind == 2
    surname, given1, given2 = _surnames(rng, n), _given(rng, rng.random(n) < 0.5), _given(rng, rng.random(n) < 0.5, 0.3)
    counterparty = (
        np.where(person, v.surname[surname], _or_blank(firm, v.firm_city[rng.integers(0, len(v.firm_city), n)])),
        np.where(person, v.given[given1], _or_blank(firm, v.firm_word[rng.integers(0, len(v.firm_word), n)])),
        np.where(person, v.given[given2], _or_blank(firm, v.firm_trade[rng.integers(0, len(v.firm_trade), n)])),
        _or_blank(firm, np.array(v.const("有限公司"))),
    )
    lines.field(*counterparty)
    named = (memo == 2) & (rng.random(n) < 0.15)  # 15 % of transfers to a person say so: 转账给张伟
    lines.field(np.where(named, np.array(v.const("转账给")), v.memo[memo]),
                *(_or_blank(named, part) for part in counterparty[:3]))
    return lines


def _interactions_plan(n_int: int, core: dict, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 4])
    customer = rng.integers(0, len(core["opened"]), n_int)
    hours = (0,) * 8 + (6, 10, 10, 8, 6, 8, 10, 10, 8, 5, 2, 1) + (0,) * 4
    return _in_time_order(rng, customer, core["opened"], INTERACTION_FIRST, INTERACTION_LAST, hours)


def _interaction_lines(core: dict, plan: tuple, lo: int, hi: int, seed: int, chunk: int, eol: bytes) -> _Lines:
    v = _vocab(LAYOUT["interactions"][0])
    n = hi - lo
    customer, when = plan[0][lo:hi], plan[1][lo:hi]
    rng = np.random.default_rng([seed, 14, chunk])
    lines = _Lines(n, eol)
    lines.field(b"I", _digits(np.arange(lo + 1, hi + 1), 9))
    lines.field(b"C", _digits(customer + 1, 9))
    lines.field(*_datetime(when))
    channel = _choice(rng, _INTERACTION_CHANNELS, n)
    hour = when // 3600 % 24
    channel[(channel == 0) & ((hour < 9) | (hour >= 17))] = 1  # the counter is open 9:00–17:00, the phone longer
    lines.field(v.int_channel[channel])
    lines.field(b"G", _digits(rng.integers(1, 61, n), 4))
    note = _choice(rng, _NOTES, n)
    with_name = np.array([t[1] for t in _NOTES])[note]
    with_mobile = np.array([t[3] for t in _NOTES])[note]
    name = (v.surname[core["surname"][customer]], v.given[core["given1"][customer]], v.given[core["given2"][customer]])
    lines.field(v.note_pre[note], *(_blank(p, ~with_name) for p in name), v.note_mid[note],
                _blank(_digits(core["mobile"][customer], 11), ~with_mobile))
    return lines
# --- files ----------------------------------------------------------------------------------------------------
def _write(path: Path, entity: str, rows: int, make_lines) -> int:
    encoding, eol, bom = LAYOUT[entity]
    with open(path, "wb") as fh:
        fh.write(bom + ",".join(HEADERS[entity]).encode(encoding) + eol)
        fh.writelines(make_lines(lo, min(rows, lo + CHUNK_ROWS), chunk, eol).render()
                      for chunk, lo in enumerate(range(0, rows, CHUNK_ROWS)))
    return path.stat().st_size


def _check_contract(doc: dict) -> None:
    """The layout above must be the contract's: same entities, same headers in the same order."""
    for entity, header in HEADERS.items():
        declared = list(doc["entities"][entity]["columns"])
        if declared != header:
            raise ValueError(f"{CONTRACT.name}: the {entity} columns changed; update bench/generate.py")


def _bench_contract(text: str) -> str:
    """The sample contract reading the files next to it, with the accounts as a CSV file."""
    text, located = re.subn(r"(?m)^([ \t]*location:)[^\n]*$",
                            r"\1 .                           # the bench files sit next to this contract",
                            text, count=1)
    text, accounts = re.subn(r"(?m)^([ \t]*source:[ \t]*)\{file:[ \t]*账户信息\.xlsx[^}\n]*\}",
                             r"\1{file: 账户信息.csv, format: csv, encoding: utf-8}", text, count=1)
    if (located, accounts) != (1, 1):
        raise ValueError(f"{CONTRACT.name}: cannot find source.location or the accounts source to rewrite")
    note = ("# Written by bench/generate.py from contracts/sample_branch.yaml: the files are in this folder and\n"
            "# the accounts are a CSV file (an Excel sheet holds at most 1,048,576 rows).\n")
    return note + text


def generate(out_dir: Path, customers: int = 1_000_000, transactions: int = 5_000_000,
             interactions: int = 1_000_000, seed: int = 7) -> dict:
    """Write the four files and ``bench_contract.yaml`` into ``out_dir``.

    Returns ``rows`` (data rows per entity), ``bytes`` (total bytes written), ``files`` (bytes per file),
    ``defects`` (customers carrying each planted defect), ``no_consent`` (customers refusing the transfer)
    and ``expected`` (per entity: loaded / quarantined / excluded, if children follow their customer as in
    ``handover.sample``).
    """
    if customers < 1 or transactions < 0 or interactions < 0:
        raise ValueError("need at least one customer, and no negative row counts")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    contract_text = CONTRACT.read_text(encoding="utf-8")
    _check_contract(yaml.safe_load(contract_text))

    core = _customers_core(customers, seed)
    card_key = int(np.random.default_rng([seed, 2]).integers(0, 10**12))
    sizes = {
        FILES["customers"]: _write(out_dir / FILES["customers"], "customers", customers,
                                   lambda lo, hi, k, eol: _customer_lines(core, lo, hi, seed, k, eol)),
        FILES["accounts"]: _write(out_dir / FILES["accounts"], "accounts", customers,
                                  lambda lo, hi, k, eol: _account_lines(core, lo, hi, seed, k, eol, card_key)),
    }
    plan = _transactions_plan(transactions, core, seed)
    sizes[FILES["transactions"]] = _write(out_dir / FILES["transactions"], "transactions", transactions,
                                          lambda lo, hi, k, eol: _transaction_lines(plan, lo, hi, seed, k, eol))
    tx_account = plan[0]
    del plan
    plan = _interactions_plan(interactions, core, seed)
    sizes[FILES["interactions"]] = _write(
        out_dir / FILES["interactions"], "interactions", interactions,
        lambda lo, hi, k, eol: _interaction_lines(core, plan, lo, hi, seed, k, eol))
    contract = out_dir / BENCH_CONTRACT
    contract.write_text(_bench_contract(contract_text), encoding="utf-8")
    sizes[BENCH_CONTRACT] = contract.stat().st_size
    schedule = out_dir / "retention.yaml"  # the retention schedule the contract names, beside it
    schedule.write_bytes((CONTRACT.parent / "retention.yaml").read_bytes())
    sizes[schedule.name] = schedule.stat().st_size

    # 0 loaded, 1 quarantined (own defect), 2 excluded (no consent); children share their customer's fate.
    status = np.where(core["bad_id"] | core["bad_mobile"], 1, np.where(core["consent"], 0, 2))

    def settle(of_rows: np.ndarray) -> dict:
        counts = np.bincount(of_rows, minlength=3)
        return {"source_rows": int(counts.sum()), "loaded": int(counts[0]), "quarantined": int(counts[1]),
                "excluded": int(counts[2]), "duplicates": 0}

    expected = {"customers": settle(status), "accounts": settle(status),
                "transactions": settle(status[tx_account]), "interactions": settle(status[plan[0]])}
    return {
        "seed": seed,
        "rows": {e: x["source_rows"] for e, x in expected.items()},
        "bytes": sum(sizes.values()),
        "files": sizes,
        "defects": {"resident_id_checksum": int(core["bad_id"].sum()),
                    "mobile_invalid": int(core["bad_mobile"].sum())},
        "no_consent": int((~core["consent"]).sum()),
        "expected": expected,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/generate.py", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=5_000_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = generate(args.out_dir, customers=args.customers, transactions=args.transactions,
                      interactions=args.interactions, seed=args.seed)
    rows = ", ".join(f"{e} {n:,}" for e, n in result["rows"].items())
    defects = ", ".join(f"{d} {n}" for d, n in result["defects"].items())
    print(f"wrote {args.out_dir} (seed {args.seed}): {rows}; {result['bytes'] / 1e6:,.1f} MB "
          f"in {time.perf_counter() - started:.1f} s; planted {defects}; {result['no_consent']} without consent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
