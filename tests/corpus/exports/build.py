#!/usr/bin/env python3
"""Independent corpus of branch-transfer (网点转让) customer exports, with ground truth.

    python build.py --shape {bank,custonly,retail} --customers N [--seed S] --out DIR [--resend] [--verify]
    python build.py --selftest

Importable:  build(shape, customers, out_dir, seed=0, resend=False) -> truth dict (also DIR/truth.json)

stdlib + openpyxl only.  Deterministic: the same arguments give byte-identical files (fixed zip entry
times and fixed core.xml timestamps inside every XLSX).  See PROVENANCE.md.
"""

# ---------------------------------------------------------------------------
# Identifier check algorithms, implemented from the standards
# 
# * GB 11643-1999  公民身份号码: ISO 7064 MOD 11-2 over 17 digits, check in 0-9/X.
#   Also used by 港澳台居民居住证 (810000/820000/830000 address codes) and by the
#   2023 外国人永久居留身份证 (first digit 9).
# * GB 32100-2015  统一社会信用代码: 18 chars over the 31-character set
#   0-9 A-H J-N P-R T U W-Y (no I O S V Z); weights 3^i mod 31; C18 = 31 - (sum mod 31).
#   Positions 9-17 are the GB 11714 organisation code (主体标识码).
# * GB 11714-1997  全国组织机构代码: 8 body chars (0-9, A-Z), weights
#   3 7 9 10 5 8 4 2; C9 = 11 - (sum mod 11), 10 -> X, 11 -> 0.  Written "12345678-9".
# * GS 15-2006 (SAIC) 15-digit 营业执照注册号: ISO 7064 MOD 11,10 hybrid system.
# * ISO/IEC 7812 Luhn for bank cards (UnionPay 62xxxx BINs).
# ---------------------------------------------------------------------------
import datetime as _dt
import re

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_check_char(body17):
    return ID_CHECK[sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS)) % 11]


def _date_ok(yyyymmdd):
    try:
        d = _dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return 1850 <= d.year <= 2100


def resident_id_valid(s):
    """18-character GB 11643 number (birth date must be a real date)."""
    if not re.fullmatch(r"\d{17}[\dX]", s or ""):
        return False
    if not _date_ok(s[6:14]):
        return False
    return id_check_char(s[:17]) == s[17]


def hkmotw_residence_valid(s):
    return resident_id_valid(s) and s[:6] in ("810000", "820000", "830000")


def pr_new_valid(s):
    """2023 外国人永久居留身份证: 18 digits starting with 9, MOD 11-2 check."""
    return bool(re.fullmatch(r"9\d{16}[\dX]", s or "")) and _date_ok(s[6:14]) and \
        id_check_char(s[:17]) == s[17]


def pr_old_valid(s):
    """2004/2017 外国人永久居留证: 3 Latin letters (nationality) + 12 digits."""
    return bool(re.fullmatch(r"[A-Z]{3}\d{12}", s or ""))


def hkmo_permit_valid(s):
    """港澳居民来往内地通行证 (card version since 2012/2013): H or M + 8 digits."""
    return bool(re.fullmatch(r"[HM]\d{8}", s or ""))


def tw_permit_valid(s):
    """台湾居民来往大陆通行证 (card version since 2015): 8 digits."""
    return bool(re.fullmatch(r"\d{8}", s or ""))


USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28


def uscc_check_char(body17):
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(body17, USCC_WEIGHTS))
    r = 31 - s % 31
    return USCC_CHARS[0 if r == 31 else r]


def uscc_valid(s):
    if not s or len(s) != 18 or any(c not in USCC_CHARS for c in s):
        return False
    return uscc_check_char(s[:17]) == s[17]


ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_val(c):
    return int(c) if c.isdigit() else ord(c) - 55  # A=10 .. Z=35


def org_check_char(body8):
    r = 11 - sum(_org_val(c) * w for c, w in zip(body8, ORG_WEIGHTS)) % 11
    return "X" if r == 10 else "0" if r == 11 else str(r)


def org_code_valid(s):
    s = (s or "").replace("-", "", 1)
    if not re.fullmatch(r"[0-9A-Z]{8}[0-9X]", s):
        return False
    return org_check_char(s[:8]) == s[8]


def gs15_check_digit(body14):
    p = 10
    for ch in body14:
        s = (p + int(ch)) % 10
        if s == 0:
            s = 10
        p = (s * 2) % 11
    return str((11 - p) % 10)


def licence15_valid(s):
    return bool(re.fullmatch(r"\d{15}", s or "")) and gs15_check_digit(s[:14]) == s[14]


def luhn_check_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(s):
    return bool(re.fullmatch(r"\d{8,19}", s or "")) and luhn_check_digit(s[:-1]) == s[-1]


def selftest_checks():
    """Known published examples plus round trips."""
    # GB 11643 examples (standard's own examples)
    assert resident_id_valid("11010519491231002X")
    assert resident_id_valid("440524188001010014")
    assert not resident_id_valid("110105194912310021")
    assert not resident_id_valid("11010519491331002X")  # month 13
    # GB 32100 example widely quoted in the standard's annex
    assert uscc_valid("91350100M000100Y43")
    assert not uscc_valid("91350100M000100Y44")
    assert not uscc_valid("91350100M000100O43")  # O not in charset
    assert org_code_valid("M000100Y-4")  # embedded organisation code of the example
    # GB 11714 example
    assert org_code_valid("D2143569-X")
    assert org_code_valid("D2143569X")
    assert not org_code_valid("D2143569-1")
    # 15-digit registration number
    assert licence15_valid("110108000000016")
    assert not licence15_valid("110108000000017")
    # Luhn
    assert luhn_valid("79927398713")
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    # round trips on a deterministic sweep
    import random
    rng = random.Random("checks-selftest")
    for _ in range(2000):
        b = "".join(rng.choice("0123456789") for _ in range(17))
        s = b + id_check_char(b)
        assert id_check_char(s[:17]) == s[17]
        o = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
        oc = o + org_check_char(o)
        assert org_code_valid(oc)
        u = "91" + "420105" + oc
        assert uscc_valid(u + uscc_check_char(u))
        # every single-character substitution of the check char must fail
        for alt in USCC_CHARS:
            if alt != uscc_check_char(u):
                assert not uscc_valid(u + alt)
        l14 = "".join(rng.choice("0123456789") for _ in range(14))
        lic = l14 + gs15_check_digit(l14)
        assert licence15_valid(lic)
        for alt in "0123456789":
            if alt != lic[-1]:
                assert not licence15_valid(l14 + alt)
        c = "62" + "".join(rng.choice("0123456789") for _ in range(16))
        card = c + luhn_check_digit(c)
        assert luhn_valid(card)
    return True

# ---------------------------------------------------------------------------
# Everything below: corpus generator
# ---------------------------------------------------------------------------
import argparse
import csv
import io
import json
import os
import random
import sys
import zipfile
from datetime import date, datetime, timedelta

AS_OF = date(2026, 12, 2)
RESEND_AS_OF = date(2027, 1, 2)
ZIP_TIME = (2026, 12, 1, 18, 30, 0)
XLSX_CORE_TIME = "2026-12-01T10:30:00Z"
EXCEL_EPOCH = date(1899, 12, 30)

SHAPES = ("bank", "custonly", "retail")

# ----------------------------------------------------------------- pools ----
SUR_COMMON = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
              "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
              "覃武戴莫孔向汤")
SUR_COMPOUND = ["欧阳", "司马", "上官", "诸葛", "皇甫", "东方", "令狐", "慕容", "尉迟", "公孙", "夏侯",
                "长孙", "宇文", "司徒", "端木", "呼延", "南宫", "万俟", "独孤", "澹台"]
SUR_RARE = ["禤", "仉", "亓", "冼", "佘", "逄", "隗", "鞠", "甄", "靳", "晁", "钭", "厍", "乜", "妫", "昝",
            "笪", "缪", "啜", "酆", "雒", "郗", "訾", "阚", "盖", "蒯", "湛", "谌"]
GIVEN_M = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林欢阳建国志文宏海峰松柏晨博"
GIVEN_F = "芳娜敏静丽艳娟霞秀燕玲英红梅琳雪倩婷颖慧莹璐晶妍洁琴兰萍蓉薇瑶菲"
GIVEN2_M = ["俊杰", "建华", "国强", "志明", "晓东", "建军", "浩然", "宇轩", "梓轩", "子墨", "明轩", "天佑",
            "博文", "家豪", "振宇", "文斌", "永刚", "德胜", "红旗", "卫东", "爱国", "春生", "长江", "一鸣"]
GIVEN2_F = ["子涵", "梓萱", "欣怡", "一诺", "雨桐", "嘉怡", "秀兰", "淑珍", "桂英", "秀英", "海燕", "春梅",
            "丽华", "文静", "诗涵", "雨萱", "佳琪", "若曦", "晨曦", "美玲", "翠花", "玉兰", "凤英", "思琪"]
# rare characters; 䶮 (CJK Ext-A) and 𬭚 𬘬 (Ext-E) are outside GBK: GB18030 four-byte or FExx
GIVEN_RARE = ["䶮", "喆", "堃", "淼", "犇", "昇", "翀", "赟", "玥", "珺", "琇", "璟", "昶", "瑄", "镕",
              "𬭚", "𬘬", "頔", "婧", "祎", "燊", "旻", "煜", "曌", "垚"]
UYGHUR_F = ["阿依古丽", "古丽米拉", "热依汗古丽", "迪丽娜尔", "帕提古丽", "努尔比亚", "阿孜古丽"]
UYGHUR_M = ["买买提", "艾尔肯", "努尔艾力", "阿布都热合曼", "吐尔洪", "艾合买提江", "玉苏甫江"]
UYGHUR_FATHER = ["买买提", "吐尔逊", "艾力", "阿不都拉", "热合曼", "依明", "托合提", "玉素甫", "阿西木"]
TIBETAN = ["扎西", "次仁", "卓玛", "达瓦", "格桑", "拉姆", "尼玛", "央金", "顿珠", "措姆", "平措", "旺堆"]
MONGOL = ["巴特尔", "其其格", "乌日娜", "额尔敦", "苏日娜", "宝音图", "阿拉坦仓"]
TRAD_SUR = "陳黃張李林王吳劉蔡楊鄭謝郭洪曾邱廖賴周葉梁何"
TRAD_GIVEN = ["志明", "家豪", "嘉欣", "詠詩", "佩珊", "俊傑", "偉倫", "美玲", "淑芬", "建宏", "雅婷", "怡君",
              "冠宇", "承恩", "子晴", "國華", "麗娟", "偉強"]
LATIN_SUR = ["SMITH", "JOHNSON", "KIM", "LEE", "PARK", "TANAKA", "SATO", "NGUYEN", "MULLER", "SCHMIDT",
             "MARTIN", "BROWN", "IVANOV", "TAN", "WONG", "SINGH", "KHAN", "OKAFOR", "GARCIA", "ROSSI"]
LATIN_GIVEN_M = ["JOHN", "MICHAEL", "MINJUN", "HIROSHI", "VAN AN", "THOMAS", "DMITRY", "WEI MING", "DAVID",
                 "AHMED", "CHIDI", "LUCA", "KENJI", "JUNHO"]
LATIN_GIVEN_F = ["SEOYEON", "YUKI", "THI HOA", "ANNA", "SARAH", "MARIA", "MEI LING", "SAKURA", "OLGA", "JIWOO"]

# birthplace / residence admin codes (GB/T 2260 current codes)
ADMIN = [
    ("110105", "北京市", "", "朝阳区"), ("310115", "上海市", "", "浦东新区"),
    ("440106", "广东省", "广州市", "天河区"), ("440305", "广东省", "深圳市", "南山区"),
    ("440604", "广东省", "佛山市", "禅城区"), ("441302", "广东省", "惠州市", "惠城区"),
    ("420106", "湖北省", "武汉市", "武昌区"), ("420105", "湖北省", "武汉市", "汉阳区"),
    ("420114", "湖北省", "武汉市", "蔡甸区"), ("421003", "湖北省", "荆州市", "荆州区"),
    ("410102", "河南省", "郑州市", "中原区"), ("411625", "河南省", "周口市", "郸城县"),
    ("411602", "河南省", "周口市", "川汇区"), ("330106", "浙江省", "杭州市", "西湖区"),
    ("330782", "浙江省", "金华市", "义乌市"), ("510107", "四川省", "成都市", "武侯区"),
    ("511602", "四川省", "广安市", "广安区"), ("430104", "湖南省", "长沙市", "岳麓区"),
    ("431102", "湖南省", "永州市", "零陵区"), ("360102", "江西省", "南昌市", "东湖区"),
    ("320102", "江苏省", "南京市", "玄武区"), ("370102", "山东省", "济南市", "历下区"),
    ("500103", "重庆市", "", "渝中区"), ("610113", "陕西省", "西安市", "雁塔区"),
    ("350203", "福建省", "厦门市", "思明区"), ("450103", "广西壮族自治区", "南宁市", "青秀区"),
    ("650102", "新疆维吾尔自治区", "乌鲁木齐市", "天山区"), ("540102", "西藏自治区", "拉萨市", "城关区"),
    ("230103", "黑龙江省", "哈尔滨市", "南岗区"), ("520102", "贵州省", "贵阳市", "南明区"),
    ("150102", "内蒙古自治区", "呼和浩特市", "新城区"),
]
ADMIN_BY_CODE = {a[0]: a for a in ADMIN}

COUNTRIES = [("USA", "840", "美国"), ("KOR", "410", "韩国"), ("JPN", "392", "日本"), ("SGP", "702", "新加坡"),
             ("MYS", "458", "马来西亚"), ("GBR", "826", "英国"), ("DEU", "276", "德国"), ("FRA", "250", "法国"),
             ("CAN", "124", "加拿大"), ("AUS", "036", "澳大利亚"), ("RUS", "643", "俄罗斯"), ("VNM", "704", "越南"),
             ("PAK", "586", "巴基斯坦"), ("NGA", "566", "尼日利亚"), ("ITA", "380", "意大利")]

ZIHAO = ["恒通", "鑫达", "华宇", "盛世", "金鹏", "博远", "瑞祥", "众诚", "德润", "天域", "宏图", "嘉禾", "锦程",
         "汇通", "永信", "聚源", "楚天", "长盛", "顺发", "兴隆", "富源", "鼎泰", "万和", "新锐", "百川", "卓越",
         "明珠", "腾飞", "佳美", "福满"]
INDUSTRY = ["商贸", "建材", "电子科技", "餐饮管理", "物流", "装饰工程", "农业发展", "信息技术", "劳务服务",
            "机械设备", "贸易", "食品", "服装", "汽车服务", "文化传媒", "环保科技", "医疗器械", "包装材料"]
SHOP = ["五金店", "便利店", "小吃店", "副食店", "服装店", "电动车行", "手机维修部", "理发店", "早餐店", "粮油店",
        "建材经营部", "水果店", "农资店", "烟酒店", "药店"]
CROPS = ["蔬菜种植", "小麦种植", "生猪养殖", "中药材种植", "果蔬", "农机"]

OCCUPATIONS = ["国家机关、党群组织、企业、事业单位负责人", "专业技术人员", "办事人员和有关人员", "商业、服务业人员",
               "农、林、牧、渔、水利业生产人员", "生产、运输设备操作人员及有关人员", "军人", "不便分类的其他从业人员"]
OCC_W = [4, 14, 16, 28, 10, 14, 1, 13]

MOBILE_PREFIX = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "145", "147", "150", "151",
                 "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178",
                 "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198", "199"]
EMAIL_DOM = ["qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "139.com", "outlook.com", "hotmail.com",
             "aliyun.com", "sohu.com"]
PINYIN = ["zhang", "wang", "li", "liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "xu", "sun", "ma",
          "zhu", "hu", "guo", "lin", "wei", "min", "jun", "hua", "ming", "fang", "jing", "lei", "hong", "yan"]

BRANCH = {
    "bank": dict(org="江城农村商业银行股份有限公司汉阳支行", admin="420105", province="湖北省", city="武汉市",
                 district="汉阳区", area="027", ll_len=8, postcode="430050",
                 roads=["汉阳大道", "鹦鹉大道", "龙阳大道", "江城大道", "墨水湖北路", "归元寺路", "四新大道",
                        "知音东路", "芳草路", "拦江路", "玉龙路", "建港路"],
                 estates=["知音东苑", "四新康城", "鹦鹉花园", "江汉家园", "锦绣龙城", "墨水湖畔", "十里景秀",
                          "芳草苑", "汉阳春晓", "归元小区"],
                 towns=[("420114", "蔡甸区", ["侏儒山街", "永安街", "索河街", "消泗乡", "玉贤街"])],
                 near=["420106", "420114", "421003"]),
    "custonly": dict(org="郸城县恒信小额贷款有限公司城关营业部", admin="411625", province="河南省", city="周口市",
                     district="郸城县", area="0394", ll_len=7, postcode="477150",
                     roads=["育新路", "新华路", "建设路", "洺南路", "人民路", "东风路", "世纪大道", "郸城大道"],
                     estates=["金色家园", "建业森林半岛", "育新小区", "书香苑", "阳光花园", "东方明珠小区"],
                     towns=[("411625", "郸城县", ["汲冢镇", "宜路镇", "钱店镇", "汲水乡", "胡集乡", "秋渠乡",
                                                 "南丰镇", "白马镇", "巴集乡", "吴台镇", "宁平镇", "张完乡",
                                                 "丁村乡", "双楼乡", "石槽镇", "虎岗乡"])],
                     near=["411602", "410102"]),
    "retail": dict(org="佛山市邻里优选商业连锁有限公司季华店", admin="440604", province="广东省", city="佛山市",
                   district="禅城区", area="0757", ll_len=8, postcode="528000",
                   roads=["季华五路", "季华六路", "汾江中路", "文华北路", "佛山大道", "绿景路", "岭南大道",
                          "普澜二路", "魁奇路", "同济路", "祖庙路", "石湾公园路"],
                   estates=["岭南天地", "绿景花园", "东建世纪华庭", "保利外滩", "怡翠玫瑰园", "金域华府",
                            "海琴湾", "季华新城"],
                   towns=[("440604", "禅城区", ["南庄镇", "张槎街道", "石湾镇街道", "祖庙街道"])],
                   near=["440106", "440305", "441302"]),
}

ID_TYPE_CODES_BANK = {
    "01": "resident identity card (居民身份证)",
    "02": "temporary resident identity card (临时居民身份证)",
    "03": "household register (户口簿) - number is the resident ID number",
    "04": "PRC passport (中国护照)",
    "05": "military identity document (军人身份证件)",
    "06": "Mainland travel permit for Hong Kong and Macao residents (港澳居民来往内地通行证/回乡证)",
    "07": "Mainland travel permit for Taiwan residents (台湾居民来往大陆通行证/台胞证)",
    "08": "foreign passport (外国护照)",
    "09": "foreign permanent resident ID card (外国人永久居留身份证), 15-char old or 18-digit 2023 form",
    "10": "residence permit for HK/Macao/Taiwan residents (港澳台居民居住证), 810000/820000/830000 + GB 11643",
    "20": "unified social credit code (统一社会信用代码)",
    "21": "organisation code certificate (组织机构代码证)",
    "22": "business licence registration number, 15 digits (营业执照注册号)",
}
BANK_CODE = {"RID": "01", "TMP": "02", "HHR": "03", "PPT_CN": "04", "HKMO": "06", "TW": "07",
             "PPT_F": "08", "PR_OLD": "09", "PR_NEW": "09", "RES": "10", "USCC": "20", "ORG": "21", "LIC": "22"}
BANK_UNKNOWN_CODES = ["99", "13", "0A", "31", "1"]

ID_TYPE_LABELS_CUST = {
    "居民身份证": "resident identity card", "身份证": "resident identity card (short label)",
    "临时身份证": "temporary resident identity card", "户口簿": "household register (resident ID number)",
    "护照": "passport (PRC or foreign)", "港澳居民来往内地通行证": "HK/Macao travel permit (H/M + 8 digits)",
    "回乡证": "HK/Macao travel permit (colloquial label)", "台湾居民来往大陆通行证": "Taiwan travel permit (8 digits)",
    "台胞证": "Taiwan travel permit (colloquial label)", "外国人永久居留身份证": "foreign permanent resident ID",
    "港澳台居民居住证": "HK/Macao/Taiwan residence permit (GB 11643 number)",
    "统一社会信用代码": "unified social credit code", "组织机构代码": "organisation code",
    "营业执照": "business licence registration number (15 digits)",
}
CUST_LABEL = {"RID": ["居民身份证", "居民身份证", "居民身份证", "身份证"], "TMP": ["临时身份证"], "HHR": ["户口簿"],
              "PPT_CN": ["护照"], "PPT_F": ["护照"], "HKMO": ["港澳居民来往内地通行证", "回乡证"],
              "TW": ["台湾居民来往大陆通行证", "台胞证"], "PR_OLD": ["外国人永久居留身份证"],
              "PR_NEW": ["外国人永久居留身份证"], "RES": ["港澳台居民居住证"], "USCC": ["统一社会信用代码"],
              "ORG": ["组织机构代码"], "LIC": ["营业执照"]}
CUST_UNKNOWN_LABELS = ["驾驶证", "军官证", "社会保障卡", "其他证件", "士兵证"]

WITHHOLD_KINDS = {"id_checksum", "uscc_checksum", "org_code_checksum", "licence_checksum", "permit_format",
                  "id_scientific", "id_type_unknown", "uscc_disagree", "key_missing", "conflicting_duplicate",
                  "orphan", "card_unknown", "card_luhn"}
DEPENDS_KINDS = {"landline_invalid", "email_invalid", "birth_partial", "date_excel_serial_text",
                 "amount_3_decimals", "date_unreadable"}

# customer-level planting rates (fraction of customers), per shape
CUST_RATES = {
    "bank": {"id_checksum": .02, "uscc_checksum": .01, "org_code_checksum": .008, "licence_checksum": .008,
             "permit_format": .01, "id_scientific": .015, "id_type_unknown": .01, "uscc_disagree": .01,
             "key_missing": .01, "conflicting_duplicate": .01, "exact_duplicate": .015, "no_consent": .03,
             "remark_formula": .02, "landline_invalid": .015, "email_invalid": .01, "birth_partial": .015,
             "date_excel_serial_text": .01, "date_unreadable": .01},
    "custonly": {"id_checksum": .025, "uscc_checksum": .012, "org_code_checksum": .008, "licence_checksum": .008,
                 "permit_format": .008, "id_scientific": .02, "id_type_unknown": .012,
                 "key_missing": .012, "conflicting_duplicate": .015, "exact_duplicate": .02, "no_consent": .025,
                 "remark_formula": .025, "landline_invalid": .02, "email_invalid": .008, "birth_partial": .02,
                 "date_excel_serial_text": .015, "date_unreadable": .012},
    "retail": {"id_checksum": .015, "uscc_checksum": .008, "id_scientific": .012,
               "key_missing": .015, "conflicting_duplicate": .02, "exact_duplicate": .025, "no_consent": .03,
               "remark_formula": .015, "email_invalid": .015, "birth_partial": .03,
               "date_unreadable": .012},
}
CUST_MIN = {"org_code_checksum": 2, "licence_checksum": 2}

DOMAIN = {"bank": ("01058", 7), "custonly": ("KH", 8), "retail": ("8860", 9)}


# --------------------------------------------------------------- helpers ----
def fw(s):
    """ASCII -> full-width (what a Chinese IME in full-width mode types)."""
    return "".join(chr(ord(c) + 0xFEE0) if 0x21 <= ord(c) <= 0x7E else ("\u3000" if c == " " else c) for c in s)


def wpick(rng, items, weights):
    return rng.choices(items, weights=weights, k=1)[0]


def rdate(rng, lo, hi):
    if hi <= lo:
        return lo
    return lo + timedelta(days=rng.randint(0, (hi - lo).days))


def fmt_date(d, style):
    if style == "iso":
        return "%04d-%02d-%02d" % (d.year, d.month, d.day)
    if style == "slash":
        return "%d/%d/%d" % (d.year, d.month, d.day)
    if style == "slash0":
        return "%04d/%02d/%02d" % (d.year, d.month, d.day)
    if style == "compact":
        return "%04d%02d%02d" % (d.year, d.month, d.day)
    if style == "cn":
        return "%d年%d月%d日" % (d.year, d.month, d.day)
    if style == "dot":
        return "%04d.%02d.%02d" % (d.year, d.month, d.day)
    raise ValueError(style)


def fmt_dt(t, style):
    if style == "iso":
        return "%04d-%02d-%02d %02d:%02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)
    if style == "slash":
        return "%d/%d/%d %d:%02d" % (t.year, t.month, t.day, t.hour, t.minute)
    if style == "compact":
        return "%04d%02d%02d%02d%02d%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)
    if style == "cn":
        return "%d年%d月%d日 %02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute)
    if style == "isoT":
        return "%04d-%02d-%02dT%02d:%02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)
    raise ValueError(style)


def excel_serial(d):
    return (d - EXCEL_EPOCH).days


def unreadable_date(rng, d):
    return rng.choice(["%04d-13-%02d" % (d.year, min(d.day, 28)), "%04d-02-30" % d.year, "0000-00-00",
                       "00000000", "9999-99-99", "2O%02d-%02d-%02d" % (d.year % 100, d.month, d.day),
                       "%04d-%02d-32" % (d.year, d.month), "%04d-00-%02d" % (d.year, d.day)])


def partial_birth(rng, d):
    return rng.choice([str(d.year), "%d年%d月" % (d.year, d.month), "%04d%02d" % (d.year, d.month),
                       "%04d-%02d" % (d.year, d.month)])


def sci_text(digits):
    """How Excel's General format shows an 18-digit number once saved back to CSV."""
    m = round(int(digits) / 10 ** (len(digits) - 1), 5)
    s = ("%.5f" % m).rstrip("0").rstrip(".")
    return "%sE+%d" % (s, len(digits) - 1)


def fmt_amount(v, rng, style=None, yen=None):
    style = style or wpick(rng, ["plain", "comma", "plain1", "space"], [80, 12, 5, 3])
    if style == "plain":
        s = "%.2f" % v
    elif style == "comma":
        s = "{:,.2f}".format(v)
    elif style == "plain1":
        s = ("%.2f" % v).rstrip("0").rstrip(".") if abs(v - round(v, 1)) < 1e-9 else "%.2f" % v
    else:
        s = " %.2f " % v
    if yen:
        s = yen + s if not s.startswith("-") else "-" + yen + s[1:]
    return s


def mobile(rng):
    return rng.choice(MOBILE_PREFIX) + "%08d" % rng.randint(0, 99999999)


def show_mobile(m, rng):
    r = rng.random()
    if r < 0.76:
        return m
    if r < 0.81:
        return "+86 %s-%s-%s" % (m[:3], m[3:7], m[7:])
    if r < 0.86:
        return "%s %s %s" % (m[:3], m[3:7], m[7:])
    if r < 0.89:
        return "+86" + m
    if r < 0.92:
        return "86-" + m
    if r < 0.96:
        return fw(m)
    return rng.choice([" ", "  "]) + m + rng.choice(["", " "])


def landline(rng, br):
    first = "2345678"[rng.randint(0, 6)]
    return br["area"], first + "".join(rng.choice("0123456789") for _ in range(br["ll_len"] - 1))


def show_landline(ll, rng):
    a, n = ll
    r = rng.random()
    if r < 0.6:
        return "%s-%s" % (a, n)
    if r < 0.7:
        return "(%s)%s" % (a, n)
    if r < 0.78:
        return a + n
    if r < 0.85:
        return "%s %s %s" % (a, n[:4], n[4:])
    if r < 0.91:
        return n
    if r < 0.96:
        return "%s-%s转%d" % (a, n, rng.randint(100, 8999))
    return "%s-%s-%d" % (a, n, rng.randint(10, 899))


def bad_landline(rng, br):
    a, n = landline(rng, br)
    return rng.choice(["%s-%s" % (a, n[:4]), n[:5], "%s-%s%s" % (a, n, "5678"), "0000-0000000",
                       "%s-%sO" % (a, n[:-1]), "1111111", "%s--%s" % (a, n[:3])])


def email_for(rng, name_py=None):
    r = rng.random()
    if r < 0.4:
        local = str(rng.randint(10000, 3999999999))
        dom = "qq.com"
    else:
        local = rng.choice(PINYIN) + rng.choice(PINYIN) + rng.choice(["", str(rng.randint(1, 99)),
                                                                        str(rng.randint(1960, 2005)), "_" + str(rng.randint(1, 999))])
        dom = rng.choice(EMAIL_DOM)
    e = local + "@" + dom
    if rng.random() < 0.04:
        e = e.upper() if rng.random() < 0.5 else " " + e
    return e


def bad_email(rng):
    local = rng.choice(PINYIN) + str(rng.randint(1, 999))
    dom = rng.choice(EMAIL_DOM)
    return rng.choice([local + "@" + dom.split(".")[0], local + "#" + dom, local + "@@" + dom,
                       local + "@" + dom.replace(".", ","), local + " @" + dom, local + "@" + dom + ".",
                       local + "＠" + dom, "@" + dom])


# -------------------------------------------------------------- identities --
def id_number(rng, admin, birth, gender):
    seq = rng.randint(0, 99) * 10 + rng.choice([1, 3, 5, 7, 9] if gender == "男" else [0, 2, 4, 6, 8])
    body = "%s%04d%02d%02d%03d" % (admin, birth.year, birth.month, birth.day, seq)
    return body + id_check_char(body)


def wrong_check(s, alphabet):
    right = s[-1]
    alts = [c for c in alphabet if c != right]
    return s[:-1] + alts[(ord(right) * 7 + len(s)) % len(alts)]


def org_body(rng, style):
    if style == "digits":
        return "".join(rng.choice("0123456789") for _ in range(8))
    if style == "MA":
        return "MA" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY"[:10 + 21]) for _ in range(6))
    if style == "L":
        return "L" + "".join(rng.choice("0123456789") for _ in range(7))
    raise ValueError(style)


def make_org(rng, style="digits"):
    b = org_body(rng, style)
    return b + org_check_char(b)


def make_uscc(rng, admin, reg="9", typ="1", org=None, style=None):
    if org is None:
        org = make_org(rng, style or wpick(rng, ["digits", "MA"], [45, 55]))
    body = reg + typ + admin + org
    return body + uscc_check_char(body)


def make_uscc_sci_lookalike(rng, admin):
    """A VALID USCC of the form digits+E+digits (looks like 9.1E+17 notation to a naive parser)."""
    for _ in range(100000):
        pos = rng.randint(0, 6)
        b = list("".join(rng.choice("0123456789") for _ in range(8)))
        b[pos] = "E"
        b = "".join(b)
        oc = org_check_char(b)
        if oc == "X":
            continue
        body = "91" + admin + b + oc
        c = uscc_check_char(body)
        if c.isdigit():
            return body + c
    raise RuntimeError("no sci lookalike")


def make_licence(rng, admin):
    body = admin + rng.choice("0123") + "%07d" % rng.randint(0, 9999999)
    return body + gs15_check_digit(body)


def make_card(rng, bin6, length):
    body = bin6 + "".join(rng.choice("0123456789") for _ in range(length - 7))
    return body + luhn_check_digit(body)


# ------------------------------------------------------------------ names ---
def person_name(rng, gender):
    r = rng.random()
    if r < 0.015:
        k = rng.random()
        if k < 0.55:
            first = rng.choice(UYGHUR_F if gender == "女" else UYGHUR_M)
            return first + rng.choice(["·", "·", "·", "•"]) + rng.choice(UYGHUR_FATHER), "维吾尔族"
        if k < 0.8:
            return rng.choice(TIBETAN) + rng.choice(TIBETAN), "藏族"
        return rng.choice(MONGOL), "蒙古族"
    if r < 0.045:
        sur = rng.choice(SUR_COMPOUND)
    elif r < 0.08:
        sur = rng.choice(SUR_RARE)
    else:
        i = int(rng.triangular(0, len(SUR_COMMON), 0))
        sur = SUR_COMMON[min(i, len(SUR_COMMON) - 1)]
    pool = GIVEN_M if gender == "男" else GIVEN_F
    r2 = rng.random()
    if r2 < 0.3:
        given = rng.choice(pool)
    elif r2 < 0.5:
        given = rng.choice(GIVEN2_M if gender == "男" else GIVEN2_F)
    else:
        given = rng.choice(pool) + rng.choice(pool)
    if rng.random() < 0.03:
        given = given[:-1] + rng.choice(GIVEN_RARE)
    eth = "汉族" if rng.random() < 0.95 else rng.choice(["回族", "满族", "壮族", "土家族", "苗族"])
    return sur + given, eth


def trad_name(rng):
    return rng.choice(TRAD_SUR) + rng.choice(TRAD_GIVEN)


def latin_name(rng, gender="男"):
    return rng.choice(LATIN_SUR) + " " + rng.choice(LATIN_GIVEN_M if gender == "男" else LATIN_GIVEN_F)


def company_name(rng, br, kind, person=None):
    z = rng.choice(ZIHAO)
    ind = rng.choice(INDUSTRY)
    lp, rp = ("（", "）") if rng.random() < 0.8 else ("(", ")")
    city = br["city"]
    if kind == "E":
        return wpick(rng, [
            "%s%s%s有限公司" % (city, z, ind),
            "%s%s%s%s%s有限公司" % (z, ind, lp, city[:-1], rp),
            "%s%s%s股份有限公司" % (br["province"][:2], z, ind),
            "%s%s%s%s有限责任公司" % (city, br["district"], z, ind),
            "%s%s有限公司%s分公司" % (z, ind, br["district"]),
            "%s%s%s商行" % (city, br["district"], z),
        ], [40, 15, 8, 15, 10, 12])
    if kind == "G":
        short = (person or "张三")
        return wpick(rng, [
            "%s%s%s" % (br["district"], short, rng.choice(SHOP)),
            "%s%s%s%s" % (city, br["district"], z, rng.choice(SHOP)),
            "%s%s记%s" % (br["district"], short[0], rng.choice(SHOP)),
            "%s%s%s（个体工商户）" % (br["district"], z, rng.choice(SHOP)),
        ], [40, 25, 20, 15])
    if kind == "C":
        town = rng.choice(br["towns"][0][2])
        return "%s%s%s%s农民专业合作社" % (br["district"], town, rng.choice(SUR_COMMON[:30]) + "庄", rng.choice(CROPS))
    raise ValueError(kind)


def address(rng, br, ent=False):
    r = rng.random()
    if not ent and r < 0.22:
        code, dist, towns = br["towns"][0]
        a = ADMIN_BY_CODE[code]
        town = rng.choice(towns)
        vil = rng.choice(SUR_COMMON[:40]) + rng.choice(["庄", "楼", "营", "寨", "湾", "岗", "家"])
        s = "%s%s%s%s%s村%d组%d号" % (a[1], a[2], a[3], town, vil, rng.randint(1, 12), rng.randint(1, 88))
    elif not ent and r < 0.28:
        a = ADMIN_BY_CODE[rng.choice(br["near"])]
        s = "%s%s%s%s路%d号" % (a[1], a[2], a[3], rng.choice(ZIHAO), rng.randint(1, 300))
    else:
        road = rng.choice(br["roads"])
        n = rng.randint(1, 600)
        if ent:
            s = "%s%s%s%s%d号%s大厦%d层%02d室" % (br["province"], br["city"], br["district"], road, n,
                                            rng.choice(ZIHAO), rng.randint(1, 30), rng.randint(1, 20))
        else:
            s = "%s%s%s%s%d号%s%d栋%d单元%d%02d室" % (br["province"], br["city"], br["district"], road, n,
                                              rng.choice(br["estates"]), rng.randint(1, 30), rng.randint(1, 4),
                                              rng.randint(1, 33), rng.randint(1, 6))
    # messy but good
    q = rng.random()
    if q < 0.08:
        s = s.replace(br["province"], "", 1)
    elif q < 0.12:
        s = "".join(fw(c) if c.isdigit() else c for c in s)
    elif q < 0.16:
        s = s.replace("号", "号 ", 1)
    elif q < 0.19:
        s = " " + s + "  "
    return s


# -------------------------------------------------------- population ------
class Ctx:
    def __init__(self, shape, n, seed, resend):
        self.shape, self.n, self.seed, self.resend = shape, n, seed, resend
        self.br = BRANCH[shape]
        self.rng = random.Random("%s|%d|population" % (shape, seed))
        self.crng = random.Random("%s|%d|children" % (shape, seed))
        self.rrng = random.Random("%s|%d|resend" % (shape, seed))
        self.observations = {}

    def observe(self, kind, key):
        self.observations.setdefault(kind, []).append(key)


def role_plan(ctx):
    n = ctx.n
    rates = CUST_RATES[ctx.shape]
    minimum = 2 if n >= 150 else 1
    counts = {k: max(CUST_MIN.get(k, minimum), int(round(r * n))) for k, r in rates.items()}
    total = sum(counts.values()) + counts["conflicting_duplicate"]
    if total > 0.6 * n:  # tiny corpora
        f = 0.6 * n / total
        counts = {k: max(0, int(v * f)) for k, v in counts.items()}
    return counts


def id_profile_distribution(shape):
    if shape == "bank":
        return (["RID", "TMP", "HHR", "PPT_CN", "HKMO", "TW", "PPT_F", "PR_OLD", "PR_NEW", "RES",
                 "E:USCC", "E:ORG", "E:LIC", "G:USCC"],
                [800, 4, 5, 7, 10, 6, 10, 3, 3, 6, 90, 14, 14, 28])
    if shape == "custonly":
        return (["RID", "TMP", "HHR", "PPT_CN", "HKMO", "TW", "PPT_F", "PR_OLD", "PR_NEW", "RES",
                 "E:USCC", "E:ORG", "E:LIC", "G:USCC", "G:LIC", "C:USCC"],
                [740, 5, 8, 4, 4, 3, 3, 1, 1, 3, 70, 10, 12, 110, 18, 8])
    return (["M"], [1])


def quota_profiles(shape, n):
    if shape == "retail":
        return ["M:SCI"] * max(3, n // 200)
    base = {"HKMO": 3, "TW": 2, "PPT_F": 3, "PPT_CN": 2, "PR_OLD": 1, "PR_NEW": 1, "RES": 2, "TMP": 1,
            "HHR": 1, "E:ORG": 3, "E:LIC": 3, "E:SCI": 3}
    if shape == "custonly":
        base.update({"G:LIC": 2, "C:USCC": 1})
    out = []
    for k, v in base.items():
        out += [k] * max(v, int(v * n / 300 * (0.3 if k != "E:SCI" else 0.5)))
    return out


ROLE_PROFILE = {
    "id_checksum": ["RID"], "uscc_checksum": ["E:USCC", "G:USCC"], "org_code_checksum": ["E:ORG"],
    "licence_checksum": ["E:LIC"], "permit_format": ["HKMO", "TW", "PR_OLD", "PR_NEW"],
    "id_scientific": ["RID", "RID", "RID", "E:USCCD"], "id_type_unknown": ["RID"], "uscc_disagree": ["E:USCC"],
    "birth_partial": ["RID"],
}


def gen_person(ctx, rng, idk, key):
    br = ctx.br
    gender = "男" if rng.random() < 0.5 else "女"
    age = int(rng.triangular(18, 88, 38))
    birth = date(AS_OF.year - age, 1, 1) + timedelta(days=rng.randint(0, 364))
    c = dict(key=key, ctype="P", idk=idk, gender=gender, birth=birth, nat="CHN", ethnicity="汉族",
             occupation=wpick(rng, OCCUPATIONS, OCC_W), uscc=None)
    name, eth = person_name(rng, gender)
    c["ethnicity"] = eth
    if idk in ("RID", "TMP", "HHR"):
        if rng.random() < 0.6:
            adm = br["admin"] if rng.random() < 0.7 else rng.choice(br["near"])
        else:
            adm = rng.choice(ADMIN)[0]
        if eth == "维吾尔族":
            adm = "650102"
        elif eth == "藏族":
            adm = "540102"
        elif eth == "蒙古族":
            adm = "150102"
        c["idno"] = id_number(rng, adm, birth, gender)
    elif idk == "PPT_CN":
        c["idno"] = rng.choice(["E", "E", "EA", "EB", "G"])
        c["idno"] += "%0*d" % (9 - len(c["idno"]), rng.randint(0, 10 ** (9 - len(c["idno"])) - 1))
    elif idk == "HKMO":
        hk = rng.random() < 0.75
        c["nat"] = "HKG" if hk else "MAC"
        c["idno"] = ("H" if hk else "M") + "%08d" % rng.randint(0, 99999999)
        name = trad_name(rng) if rng.random() < 0.8 else latin_name(rng, gender)
    elif idk == "TW":
        c["nat"] = "TWN"
        c["idno"] = "%08d" % rng.randint(0, 99999999)
        name = trad_name(rng)
    elif idk == "RES":
        pre = rng.choice(["810000", "810000", "820000", "830000"])
        c["nat"] = {"810000": "HKG", "820000": "MAC", "830000": "TWN"}[pre]
        c["idno"] = id_number(rng, pre, birth, gender)
        name = trad_name(rng)
    elif idk in ("PPT_F", "PR_OLD", "PR_NEW"):
        iso3, num, _cn = rng.choice(COUNTRIES)
        c["nat"] = iso3
        c["ethnicity"] = ""
        name = latin_name(rng, gender) if rng.random() < 0.85 else rng.choice(
            ["约翰·史密斯", "金敏俊", "阮文安", "伊万·彼得罗夫"] if gender == "男" else ["田中由纪", "玛丽亚·加西亚", "朴智友"])
        if idk == "PPT_F":
            c["idno"] = rng.choice([
                "%09d" % rng.randint(0, 999999999),
                rng.choice("MSGKE") + "%08d" % rng.randint(0, 99999999),
                rng.choice(["TK", "TR", "MU"]) + "%07d" % rng.randint(0, 9999999),
                "C%s" % "".join(rng.choice("0123456789CFGHJKLMNPRTVWXYZ") for _ in range(8)),
            ])
        elif idk == "PR_OLD":
            c["idno"] = iso3 + "%02d%02d%02d%02d%02d%d%d" % (
                int(br["admin"][:2]), rng.randint(0, 20), birth.year % 100, birth.month, birth.day,
                rng.randint(0, 9), rng.randint(0, 9))
        else:
            body = "9%s%s%04d%02d%02d%03d" % (br["admin"][:2], num, birth.year, birth.month, birth.day,
                                              rng.randint(0, 999))
            c["idno"] = body + id_check_char(body)
    c["name"] = name
    # ID validity (second-generation card rule: <26 -> 10y, 26-45 -> 20y, 46+ -> long term)
    issue = rdate(rng, max(birth + timedelta(days=365 * 16), date(2006, 1, 1)), AS_OF - timedelta(days=30))
    age_at = (issue - birth).days // 365
    if idk in ("RID", "HHR"):
        years = 10 if age_at < 26 else 20 if age_at < 46 else None
    elif idk == "TMP":
        years, issue = 0, rdate(rng, AS_OF - timedelta(days=200), AS_OF - timedelta(days=10))
    elif idk == "TW":
        years = 5
    elif idk == "RES":
        years = 5
    else:
        years = 10
    if years is None:
        c["expiry"] = None
    elif years == 0:
        c["expiry"] = issue + timedelta(days=90)
    else:
        try:
            c["expiry"] = issue.replace(year=issue.year + years)
        except ValueError:
            c["expiry"] = issue.replace(year=issue.year + years, day=28)
    c["mobile"] = mobile(rng) if rng.random() < 0.97 else None
    c["landline"] = landline(rng, br) if rng.random() < 0.2 else None
    c["email"] = email_for(rng) if rng.random() < 0.16 else None
    c["address"] = address(rng, br)
    return c


def gen_enterprise(ctx, rng, kind, idk, key, sci=False, digits_only=False):
    br = ctx.br
    pname, _ = person_name(rng, "男" if rng.random() < 0.6 else "女")
    c = dict(key=key, ctype=kind, idk=idk, gender=None, birth=None, nat="CHN", ethnicity=None,
             occupation=None, legal=pname)
    c["name"] = company_name(rng, br, kind, pname)
    reg_type = {"E": "1", "G": "2", "C": "3"}[kind]
    if sci:
        u = make_uscc_sci_lookalike(rng, br["admin"])
        ctx.observe("uscc_scientific_lookalike", key)
    elif digits_only:
        u = None
        while u is None or not u.isdigit():
            u = make_uscc(rng, br["admin"], "9", reg_type, org=make_org(rng, "digits"))
    elif kind == "G":
        u = make_uscc(rng, br["admin"], "9", "2", style=wpick(rng, ["L", "MA", "digits"], [40, 40, 20]))
    else:
        u = make_uscc(rng, br["admin"], "9", reg_type)
    c["uscc"] = u
    if idk == "USCC":
        c["idno"] = u
        c["uscc_col"] = u if rng.random() < 0.6 else None
    elif idk == "ORG":
        org = make_org(rng, "digits")
        c["idno"] = org
        c["uscc"] = make_uscc(rng, br["admin"], "9", reg_type, org=org)
        c["uscc_col"] = c["uscc"] if rng.random() < 0.4 else None
    elif idk == "LIC":
        c["idno"] = make_licence(rng, br["admin"])
        c["uscc_col"] = u if rng.random() < 0.3 else None
    c["expiry"] = None if rng.random() < 0.75 else rdate(rng, date(2030, 1, 1), date(2055, 12, 31))
    c["mobile"] = mobile(rng) if rng.random() < 0.92 else None
    c["landline"] = landline(rng, br) if rng.random() < 0.75 else None
    c["email"] = email_for(rng) if rng.random() < 0.35 else None
    c["address"] = address(rng, br, ent=(kind != "G" or rng.random() < 0.3))
    return c


def lifecycle(ctx, rng, c, dormant=None):
    """open date, true last activity (file date), newest transaction plan."""
    if dormant is None:
        dormant = rng.random() < 0.15
    if dormant:
        last = rdate(rng, AS_OF - timedelta(days=365 * 12), AS_OF - timedelta(days=365 * 6 + 2))
    else:
        back = int(rng.triangular(1, 365 * 5 - 1, 1))
        last = AS_OF - timedelta(days=back)
    lo = {"bank": date(1996, 1, 1), "custonly": date(2009, 3, 1), "retail": date(2012, 1, 1)}[ctx.shape]
    if c.get("birth"):
        lo = max(lo, c["birth"] + timedelta(days=365 * 18))
    open_d = rdate(rng, lo, last - timedelta(days=30)) if last - timedelta(days=30) > lo else min(lo, last)
    c["open_date"], c["last"], c["dormant"] = open_d, last, dormant


def gen_population(ctx):
    rng, n, shape = ctx.rng, ctx.n, ctx.shape
    counts = role_plan(ctx)
    roles = []
    for k in sorted(counts):
        roles += [k] * counts[k]
    roles += [None] * max(0, n - len(roles))
    roles = roles[:n]
    rng.shuffle(roles)
    pref, width = DOMAIN[shape]
    keyspace = rng.sample(range(10 ** width), n + n // 20 + 60)
    keys = ["%s%0*d" % (pref, width, k) for k in keyspace]
    base_keys, spare = sorted(keys[:n]), keys[n:]
    items, weights = id_profile_distribution(shape)
    quota = quota_profiles(shape, n)
    free_slots = [i for i, r in enumerate(roles) if r is None]
    rng.shuffle(free_slots)
    profiles = [None] * n
    for slot, q in zip(free_slots, quota):
        profiles[slot] = q
    custs = []
    for i, key in enumerate(base_keys):
        role = roles[i]
        prof = profiles[i]
        if role in ROLE_PROFILE:
            prof = rng.choice(ROLE_PROFILE[role])
        if prof is None:
            prof = wpick(rng, items, weights)
        c = make_customer(ctx, rng, prof, key, role)
        c["role"] = role
        custs.append(c)
    ctx.spare_keys = spare
    # make sure every corpus carries names that GBK cannot encode (GB18030 two-byte FExx / four-byte)
    persons = [c for c in custs if c["role"] is None and c["ctype"] == "P" and c["nat"] == "CHN"]
    for c in rng.sample(persons, min(len(persons), max(2, n // 150))):
        c["name"] = c["name"][:-1] + rng.choice(["䶮", "𬭚", "𬘬"])
    return custs


def make_customer(ctx, rng, prof, key, role):
    shape = ctx.shape
    if shape == "retail":
        c = gen_person(ctx, rng, "RID", key)
        c["prof"] = prof
        c["has_id"] = role in ("id_checksum", "id_scientific") or rng.random() < 0.35
        c["has_tax"] = role == "uscc_checksum" or rng.random() < 0.05
        if role == "id_scientific":
            while c["idno"][-1] == "X":
                c = gen_person(ctx, rng, "RID", key)
                c.update(prof="M", has_id=True, has_tax=False)
        if prof == "M:SCI":
            c["has_tax"] = True
        if c["has_tax"]:
            c["tax_title"] = company_name(rng, ctx.br, "E")
            c["uscc"] = make_uscc(rng, ctx.br["admin"])
            if prof == "M:SCI":
                c["uscc"] = make_uscc_sci_lookalike(rng, ctx.br["admin"])
                ctx.observe("uscc_scientific_lookalike", key)
        c["email"] = c["email"] or (email_for(rng) if role == "email_invalid" else None)
        lifecycle(ctx, rng, c)
        return c
    if ":" in prof:
        kind, idk = prof.split(":")
        sci = idk == "SCI"
        digits_only = idk == "USCCD"
        if sci or digits_only:
            idk = "USCC"
        c = gen_enterprise(ctx, rng, kind, idk, key, sci=sci, digits_only=digits_only)
        if sci:
            c["uscc_col"] = c["uscc"] if rng.random() < 0.5 else None
    else:
        c = gen_person(ctx, rng, prof, key)
        if role == "id_scientific":
            while c["idno"][-1] == "X":
                c = gen_person(ctx, rng, prof, key)
    c["prof"] = prof
    if role == "landline_invalid":
        c["landline"] = c.get("landline") or landline(rng, ctx.br)
    if role == "email_invalid":
        c["email"] = c.get("email") or email_for(rng)
    if role == "uscc_disagree":
        c["uscc_col"] = make_uscc(rng, ctx.br["admin"])
    lifecycle(ctx, rng, c)
    return c


# --------------------------------------------------------- remarks / notes --
GOOD_REMARKS = ["", "", "", "", "", "", "", "", "", "", "", "", "代发工资客户", "VIP客户，注意维护", "已做尽职调查",
                "客户要求不接收营销短信", "老客户", "已补录职业信息", "联系人：财务室", "客户经理已上门核实",
                "地址待核实", "已签署电子银行协议", "存量客户，资料齐全", "无", "/", "NULL", "同一家庭客户已关联",
                "曾挂失，已补卡", "社保卡客户", "已开通短信通知", "客户为本地商户，经营正常",
                "客户称手机号为家人名下"]
LOOKALIKE_REMARKS = ["+86 {m} 为备用电话", "+86-{m}（家属）", "-- 无 --", "- 已核实", "--", "-", "+ 已补充资料",
                     "-1 级预警已解除"]
FORMULA_REMARKS = ['=HYPERLINK("http://example.com/kyc?id={k}","点我")', "=A1&B1", "@SUM(1)", "=1+1", "-2+3",
                   "+1+1", "=cmd|' /C calc'!A0", '=CONCATENATE("客户","{k}")', "@if(1,1,0)", "-A1*2",
                   '=IMPORTXML("http://example.com","//a")', "+SUM(A1:A9)"]
MULTILINE_REMARKS = ["客户地址变更：\n原地址为老城区，已迁至新址", "2019年补录证件信息\n2023年复核", "备注：\n1.代发客户\n2.已签约"]


def pick_remark(ctx, rng, c, role):
    if role == "remark_formula":
        return rng.choice(FORMULA_REMARKS).replace("{k}", c["key"])
    if role in (None,) and rng.random() < 0.02:
        ctx.observe("formula_lookalike_remark", c["key"])
        return rng.choice(LOOKALIKE_REMARKS).replace("{m}", mobile(rng))
    if role is None and rng.random() < 0.012:
        ctx.observe("multiline_remark", c["key"])
        return rng.choice(MULTILINE_REMARKS)
    return rng.choice(GOOD_REMARKS)


# ------------------------------------------------------------- file writers --
def csv_text_records(records, delimiter=",", newline="\r\n", trailing_delim=False):
    """records: list of field lists -> list of serialized strings (one per record)."""
    out = []
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
    for rec in records:
        buf.seek(0)
        buf.truncate()
        w.writerow(list(rec) + ([""] if trailing_delim else []))
        out.append(buf.getvalue())
    return out


def write_csv(path, header, records, encoding, newline, delimiter=",", trailing_delim=False,
              header_line=1, preamble=()):
    """Write; returns list of start line numbers (1-based physical lines) for each record."""
    strs = csv_text_records([header] + [r for r in records], delimiter, newline, trailing_delim)
    pre = "".join(p + newline for p in preamble)
    lines = []
    line = 1 + pre.count("\n") + strs[0].count("\n")
    for s in strs[1:]:
        lines.append(line)
        line += s.count("\n")
    text = pre + "".join(strs)
    if encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + text.encode("utf-8")
    else:
        data = text.encode(encoding)
    with open(path, "wb") as f:
        f.write(data)
    return lines


class XDate:
    """a date/datetime to be written as a real Excel date cell with a number format."""
    __slots__ = ("v", "fmt")

    def __init__(self, v, fmt):
        self.v, self.fmt = v, fmt


class XNum:
    __slots__ = ("v", "fmt")

    def __init__(self, v, fmt):
        self.v, self.fmt = v, fmt


def write_xlsx(path, sheets, creator="Apache POI"):
    """sheets: list of (name, rows) where rows are lists of cell values. Deterministic bytes."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, rows, bold_rows in sheets:
        ws = wb.create_sheet(name)
        for ri, row in enumerate(rows):
            out = []
            for v in row:
                if isinstance(v, XDate):
                    cell = WriteOnlyCell(ws, value=v.v)
                    cell.number_format = v.fmt
                elif isinstance(v, XNum):
                    cell = WriteOnlyCell(ws, value=v.v)
                    cell.number_format = v.fmt
                elif v == "":
                    cell = None  # exporters leave empty cells out
                elif isinstance(v, str):
                    cell = WriteOnlyCell(ws, value=v)
                    cell.data_type = "s"  # text is text: never let '=...' become a formula
                    if ri in bold_rows:
                        cell.font = bold
                else:
                    cell = v
                out.append(cell)
            ws.append(out)
    tmp = path + ".tmp"
    wb.save(tmp)
    core = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>%s</dc:creator>'
            '<dcterms:created xsi:type="dcterms:W3CDTF">%s</dcterms:created>'
            '<dcterms:modified xsi:type="dcterms:W3CDTF">%s</dcterms:modified></cp:coreProperties>'
            % (creator, XLSX_CORE_TIME, XLSX_CORE_TIME))
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "docProps/core.xml":
                data = core.encode("utf-8")
            zi = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            zout.writestr(zi, data)
    os.remove(tmp)


# ------------------------------------------------------------ truth helpers --
class Truth:
    def __init__(self):
        self.rows = []
        self.files = {}

    def add(self, file, line, entity, key, expect, defects=(), issues=(), parent=None, **extra):
        r = {"file": file, "line": line, "entity": entity, "key": key, "parent": parent, "expect": expect,
             "defects": list(defects), "issues": list(issues)}
        r.update(extra)
        self.rows.append(r)


def cust_status(c):
    """(expect, defects) for a customer row, and the cascade for its children."""
    role = c.get("role")
    if role in WITHHOLD_KINDS:
        return "withhold", [role]
    if role == "no_consent":
        return "exclude", [role]
    if role in DEPENDS_KINDS:
        return "depends", [role]
    return "load", []


def child_status(c):
    e, d = cust_status(c)
    if e == "withhold":
        return "withhold", ["parent_withheld"]
    if e == "exclude":
        return "exclude", ["parent_excluded"]
    if e == "depends":
        return "depends", ["parent_depends"]
    return "load", []


CHILD_OK_ROLES = (None, "exact_duplicate", "remark_formula")


def clean_parent(c):
    return c.get("role") in CHILD_OK_ROLES and not c.get("resend_touched")


# ------------------------------------------------------- customer renderers --
def show_id(s, rng):
    r = rng.random()
    if s.endswith("X") and rng.random() < 0.45:
        s = s[:-1] + "x"
    if r < 0.03:
        return " " + s
    if r < 0.06:
        return s + " "
    if r < 0.07:
        return fw(s)
    return s


def bad_permit(rng, c):
    idk, s = c["idk"], c["idno"]
    if idk == "HKMO":
        return rng.choice([s[:-1], "HK" + s[1:], "C" + s[1:], s[0] + s[2:], s + "9"])
    if idk == "TW":
        return rng.choice([s[:-1], "T" + s, s + "5"])
    if idk == "PR_OLD":
        return rng.choice([s[:2] + s[3:], s[:-2], s[:3] + s[4:] + "Q"])
    return rng.choice([s[:-1], "8" + s[1:-1] + "1", s[:10]])


def mutate_id(ctx, rng, c, role):
    """returns (display string, field-level defect flag) for 证件号码."""
    s = c["idno"]
    if role == "id_checksum":
        bad = wrong_check(s, "0123456789X")
        return bad.lower() if bad.endswith("X") and rng.random() < 0.3 else bad
    if role == "uscc_checksum":
        return wrong_check(s, USCC_CHARS)
    if role == "org_code_checksum":
        bad = wrong_check(s, "0123456789X")
        return bad[:8] + "-" + bad[8] if rng.random() < 0.7 else bad
    if role == "licence_checksum":
        return wrong_check(s, "0123456789")
    if role == "permit_format":
        return bad_permit(rng, c)
    if role == "id_scientific":
        return sci_text(s) if rng.random() < 0.8 else "%.14E" % int(s)
    if c["idk"] == "ORG":
        return s[:8] + "-" + s[8] if rng.random() < 0.7 else s
    if c["idk"] in ("USCC", "LIC"):
        return s if rng.random() < 0.96 else rng.choice([" " + s, s + " ", s.lower() if not s.isdigit() else s])
    return show_id(s, rng)


def expiry_text(c, rng, style):
    e = c["expiry"]
    if e is None:
        if c["ctype"] != "P":
            return wpick(rng, ["长期", "", "9999-12-31"], [50, 35, 15])
        return wpick(rng, ["长期", "9999-12-31", "99991231", "长期有效"], [55, 30, 10, 5])
    return fmt_date(e, style)


def row_date_style(rng, shape):
    if shape == "bank":
        return wpick(rng, ["iso", "compact", "slash", "cn", "slash0"], [70, 14, 8, 4, 4])
    if shape == "custonly":
        return wpick(rng, ["slash", "iso", "cn", "compact", "dot"], [45, 33, 10, 8, 4])
    return wpick(rng, ["iso", "slash", "slash0", "cn"], [60, 25, 10, 5])


def date_field(ctx, rng, c, d, style, defect_here):
    if defect_here == "date_excel_serial_text":
        return str(excel_serial(d))
    if defect_here == "date_unreadable":
        return unreadable_date(rng, d)
    return fmt_date(d, style)


BANK_CUST_COLS = [
    ("客户号", "core CIF customer number, 12 digits with a leading 0 - text, keep the zeros; record key"),
    ("客户名称", "person or enterprise name; persons may carry · (minority names), CJK outside GBK, traditional "
             "characters (HK/TW) or Latin (foreigners)"),
    ("客户类型", "个人 = individual, 对公 = enterprise or 个体工商户"),
    ("证件类型", "bank ID type CODE (text with leading zero), see id_type_codes"),
    ("证件号码", "number of the document named in 证件类型"),
    ("证件有效期", "document expiry; 长期 / 长期有效 / 9999-12-31 / 99991231 mean no expiry"),
    ("统一社会信用代码", "USCC, filled for SOME enterprises; must agree with 证件号码 when 证件类型=20"),
    ("性别", "男/女, individuals only"),
    ("出生日期", "birth date, individuals only; 2024-01-05, 20240105, 2024/1/5, 2024年1月5日"),
    ("国籍", "nationality, ISO 3166-1 alpha-3 (CHN HKG MAC TWN ...)"),
    ("职业", "occupation, GB/T 6565 major-group label"),
    ("手机号码", "mobile; also +86 138-0013-8000, spaced, full-width; contact mobile for enterprises"),
    ("固定电话", "landline with area code, optional extension (转nnn / -nnn)"),
    ("电子邮箱", "email"),
    ("联系地址", "address; sometimes without province, full-width digits, padded spaces"),
    ("邮政编码", "postcode"),
    ("风险等级", "AML customer risk rating (低风险/中风险/较高风险/高风险)"),
    ("客户等级", "branch customer class"),
    ("开户日期", "date the customer was opened"),
    ("开户机构", "opening institution code"),
    ("客户经理", "relationship manager 姓名(工号)"),
    ("信息转移同意", "consent to hand personal information to the new owner: 是 / 否"),
    ("最近交易日期", "last activity date according to the core system (can lag the transaction file)"),
    ("备注", "free remarks - data; may start with = @ + - and may contain line breaks"),
]

CUST_CUST_COLS = [
    ("客户编号", "CRM customer number KH + 8 digits; record key"),
    ("客户名称", "person or enterprise/个体工商户/合作社 name"),
    ("客户类别", "自然人 / 企业 / 个体工商户 / 农民专业合作社"),
    ("证件类型", "ID type LABEL as typed in the CRM, see id_type_codes (labels)"),
    ("证件号码", "number of the document named in 证件类型"),
    ("证件到期日", "document expiry; 长期 = no expiry"),
    ("性别", "男/女, persons only"),
    ("民族", "ethnic group, persons only"),
    ("出生日期", "birth date, persons only, mixed spellings"),
    ("手机号码", "mobile"),
    ("联系电话", "landline (0394 area, 7-digit local numbers)"),
    ("电子邮箱", "email"),
    ("居住地址", "address, often 乡镇/村/组"),
    ("工作单位", "employer / 务农 / 个体"),
    ("职业", "occupation"),
    ("法定代表人", "legal representative, enterprises only"),
    ("客户经理", "loan officer"),
    ("客户评级", "internal rating A/B/C/D/未评级"),
    ("授权转移", "consent to transfer personal information: 是 / 否"),
    ("最近交易日期", "last activity date per CRM"),
    ("备注", "free remarks - data"),
]

RETAIL_MEMBER_COLS = [
    ("会员卡号", "member card number, 13 digits starting 8860 (text cell); record key"),
    ("会员姓名", "member name; WeChat sign-ups may carry 微信用户, 王女士 or emoji nicknames"),
    ("性别", "男/女/未知"),
    ("手机号", "mobile; a NUMBER cell for most rows, text for others"),
    ("会员等级", "member tier"),
    ("当前积分", "points balance; number cell or text with thousands separator"),
    ("储值余额", "stored-value balance CNY; number cell or text like ¥1,234.50"),
    ("注册日期", "registration date-time (real Excel date cell)"),
    ("注册门店", "store where the member registered"),
    ("生日", "birthday as text; some give only month-day or year (birth_partial)"),
    ("身份证号", "resident ID, filled for some members (text cell)"),
    ("电子邮箱", "email"),
    ("联系地址", "delivery address"),
    ("发票抬头", "invoice title (company) for some members"),
    ("纳税人识别号", "taxpayer id of the invoice title = USCC"),
    ("同意信息转移", "consent to transfer: 是 / 否"),
    ("最近消费日期", "last purchase date per the membership system: text in mixed spellings or a date cell"),
    ("备注", "free remarks - data"),
]


def bank_customer_row(ctx, rng, c):
    role = c["role"]
    br = ctx.br
    P = c["ctype"] == "P"
    style = row_date_style(rng, "bank")
    code = BANK_CODE[c["idk"]]
    if role == "id_type_unknown":
        code = rng.choice(BANK_UNKNOWN_CODES)
    idd = mutate_id(ctx, rng, c, role)
    ucol = c.get("uscc_col") or ""
    if ucol and role != "uscc_disagree" and rng.random() < 0.05:
        ucol = ucol + " "
    date_def_field = None
    if role in ("date_excel_serial_text", "date_unreadable"):
        date_def_field = "最近交易日期" if rng.random() < 0.7 else "开户日期"
    birth = ""
    if P:
        birth = partial_birth(rng, c["birth"]) if role == "birth_partial" else fmt_date(c["birth"], style)
    ll = ""
    if role == "landline_invalid":
        ll = bad_landline(rng, br)
    elif c.get("landline"):
        ll = show_landline(c["landline"], rng)
    em = bad_email(rng) if role == "email_invalid" else (c.get("email") or "")
    if P:
        klass = wpick(rng, ["普通客户", "金卡客户", "白金客户", "钻石客户", "私人银行客户"], [70, 18, 8, 3, 1])
    else:
        klass = {"G": "个体工商户"}.get(c["ctype"]) or wpick(rng, ["普通对公客户", "重点对公客户", "小微企业客户"], [60, 10, 30])
    manager = "%s(%s)" % (person_name(rng, rng.choice("男女"))[0], "A%04d" % rng.randint(1, 400))
    consent = "否" if role == "no_consent" else ("是" if rng.random() < 0.985 else rng.choice([" 是", "是 "]))
    row = [
        c["key"] if rng.random() < 0.995 else c["key"] + " ",
        c["name"] if rng.random() < 0.98 else " " + c["name"],
        "个人" if P else "对公",
        code,
        idd,
        expiry_text(c, rng, style),
        ucol,
        c["gender"] or "",
        birth,
        c["nat"],
        c["occupation"] or "",
        show_mobile(c["mobile"], rng) if c.get("mobile") else "",
        ll,
        em,
        c["address"],
        br["postcode"] if rng.random() < 0.85 else "",
        wpick(rng, ["低风险", "中风险", "较高风险", "高风险"], [70, 22, 6, 2]),
        klass,
        date_field(ctx, rng, c, c["open_date"], style, role if date_def_field == "开户日期" else None),
        wpick(rng, ["42105012", "42105008"], [85, 15]),
        manager,
        consent,
        date_field(ctx, rng, c, c["last"], style, role if date_def_field == "最近交易日期" else None),
        pick_remark(ctx, rng, c, role),
    ]
    field = {"id_checksum": "证件号码", "uscc_checksum": "证件号码", "org_code_checksum": "证件号码",
             "licence_checksum": "证件号码", "permit_format": "证件号码", "id_scientific": "证件号码",
             "id_type_unknown": "证件类型", "uscc_disagree": "统一社会信用代码", "key_missing": "客户号",
             "no_consent": "信息转移同意", "remark_formula": "备注", "landline_invalid": "固定电话",
             "email_invalid": "电子邮箱", "birth_partial": "出生日期"}.get(role, date_def_field)
    if role == "key_missing":
        row[0] = rng.choice(["", "", " "])
    return row, field


def custonly_customer_row(ctx, rng, c):
    role = c["role"]
    br = ctx.br
    P = c["ctype"] == "P"
    style = row_date_style(rng, "custonly")
    label = rng.choice(CUST_LABEL[c["idk"]])
    if role == "id_type_unknown":
        label = rng.choice(CUST_UNKNOWN_LABELS)
    elif rng.random() < 0.03:
        label = label + " "
    idd = mutate_id(ctx, rng, c, role)
    date_def_field = None
    if role in ("date_excel_serial_text", "date_unreadable"):
        date_def_field = "最近交易日期" if rng.random() < 0.75 else "出生日期" if P else "最近交易日期"
    if P:
        if role == "birth_partial":
            birth = partial_birth(rng, c["birth"])
        else:
            birth = date_field(ctx, rng, c, c["birth"], style, role if date_def_field == "出生日期" else None)
    else:
        birth = ""
    ll = ""
    if role == "landline_invalid":
        ll = bad_landline(rng, br)
    elif c.get("landline"):
        ll = show_landline(c["landline"], rng)
    em = bad_email(rng) if role == "email_invalid" else (c.get("email") or "")
    cat = {"P": "自然人", "E": "企业", "G": "个体工商户", "C": "农民专业合作社"}[c["ctype"]]
    work = ""
    if P:
        work = wpick(rng, ["务农", "个体", "无", "", company_name(rng, br, "E"), "外出务工"], [25, 15, 10, 15, 25, 10])
    consent = "否" if role == "no_consent" else "是"
    row = [
        c["key"],
        c["name"] if rng.random() < 0.98 else c["name"] + " ",
        cat,
        label,
        idd,
        expiry_text(c, rng, style),
        c["gender"] or "",
        c["ethnicity"] or "",
        birth,
        show_mobile(c["mobile"], rng) if c.get("mobile") else "",
        ll,
        em,
        c["address"],
        work,
        c["occupation"] or "",
        c.get("legal") or "",
        person_name(rng, rng.choice("男女"))[0],
        wpick(rng, ["A", "B", "C", "D", "未评级"], [20, 40, 20, 5, 15]),
        consent,
        date_field(ctx, rng, c, c["last"], style, role if date_def_field == "最近交易日期" else None),
        pick_remark(ctx, rng, c, role),
    ]
    field = {"id_checksum": "证件号码", "uscc_checksum": "证件号码", "org_code_checksum": "证件号码",
             "licence_checksum": "证件号码", "permit_format": "证件号码", "id_scientific": "证件号码",
             "id_type_unknown": "证件类型", "key_missing": "客户编号", "no_consent": "授权转移",
             "remark_formula": "备注", "landline_invalid": "联系电话", "email_invalid": "电子邮箱",
             "birth_partial": "出生日期"}.get(role, date_def_field)
    if role == "key_missing":
        row[0] = ""
    return row, field


def retail_member_row(ctx, rng, c):
    role = c["role"]
    br = ctx.br
    name = c["name"]
    q = rng.random()
    if q < 0.012:
        name = name[0] + ("女士" if c["gender"] == "女" else "先生")
    elif q < 0.02:
        name = "微信用户"
    elif q < 0.026:
        name = rng.choice(["🌸Lily", "小鱼🐟", "A阳光", "Mr.Z", "☀️晴天"])
    m = c.get("mobile") or mobile(rng)
    mob = XNum(int(m), "0") if rng.random() < 0.6 else show_mobile(m, rng)
    pts = rng.randint(0, 30000) if not c["dormant"] else rng.randint(0, 800)
    pts_v = pts if rng.random() < 0.85 else "{:,}".format(pts)
    sv = round(rng.choice([0, 0, 0, rng.uniform(0, 2000)]), 2)
    sv_v = XNum(sv, "#,##0.00") if rng.random() < 0.8 else "¥{:,.2f}".format(sv)
    reg = datetime(c["open_date"].year, c["open_date"].month, c["open_date"].day, rng.randint(8, 21),
                   rng.randint(0, 59), rng.randint(0, 59))
    bstyle = wpick(rng, ["iso", "slash0", "cn", "compact"], [60, 20, 10, 10])
    if role == "birth_partial":
        b = c["birth"]
        birth = rng.choice(["%02d-%02d" % (b.month, b.day), "%d月%d日" % (b.month, b.day), str(b.year),
                            "%02d%02d" % (b.month, b.day)])
    else:
        birth = fmt_date(c["birth"], bstyle) if rng.random() < 0.9 else ""
    idv = ""
    if c["has_id"]:
        if role == "id_checksum":
            idv = wrong_check(c["idno"], "0123456789X")
        elif role == "id_scientific":
            idv = XNum(float(int(c["idno"][:15] + "000")), "General")
        else:
            idv = show_id(c["idno"], rng)
    tax_t = c.get("tax_title") or ""
    tax = ""
    if c.get("has_tax"):
        tax = wrong_check(c["uscc"], USCC_CHARS) if role == "uscc_checksum" else c["uscc"]
    em = bad_email(rng) if role == "email_invalid" else (c.get("email") or "")
    consent = "否" if role == "no_consent" else "是"
    ls = c["last"]
    if role == "date_unreadable":
        last_v = unreadable_date(rng, ls)
    elif rng.random() < 0.45:
        last_v = XDate(datetime(ls.year, ls.month, ls.day), "yyyy/m/d")
    else:
        last_v = fmt_date(ls, wpick(rng, ["iso", "slash", "cn"], [60, 30, 10]))
    level = wpick(rng, ["普通会员", "银卡会员", "金卡会员", "钻石会员", "员工卡"], [62, 20, 12, 4, 2])
    row = [
        c["key"] if role != "key_missing" else "",
        name, c["gender"] if rng.random() < 0.93 else "未知", mob, level, pts_v, sv_v,
        XDate(reg, "yyyy-mm-dd hh:mm:ss"),
        wpick(rng, ["禅城季华店", "禅城绿景店", "南海桂城店", "线上商城"], [70, 12, 8, 10]),
        birth, idv, em, c["address"] if rng.random() < 0.7 else "", tax_t, tax, consent, last_v,
        pick_remark(ctx, rng, c, role),
    ]
    field = {"id_checksum": "身份证号", "uscc_checksum": "纳税人识别号", "id_scientific": "身份证号",
             "key_missing": "会员卡号", "no_consent": "同意信息转移", "remark_formula": "备注",
             "email_invalid": "电子邮箱", "birth_partial": "生日", "date_unreadable": "最近消费日期"}.get(role)
    return row, field


def conflict_variant(ctx, rng, row, header):
    """the second, different version of a customer (conflicting_duplicate)."""
    v = list(row)
    opts = []
    for name in ("手机号码", "手机号", "联系地址", "居住地址", "风险等级", "客户评级", "会员等级", "当前积分", "客户名称",
                 "会员姓名"):
        if name in header:
            opts.append(name)
    f = rng.choice(opts)
    i = header.index(f)
    if f in ("手机号码", "手机号"):
        v[i] = mobile(rng)
    elif f in ("联系地址", "居住地址"):
        v[i] = address(rng, ctx.br)
    elif f == "风险等级":
        v[i] = "高风险" if v[i] != "高风险" else "低风险"
    elif f == "客户评级":
        v[i] = "D" if v[i] != "D" else "A"
    elif f == "会员等级":
        v[i] = "钻石会员" if v[i] != "钻石会员" else "普通会员"
    elif f == "当前积分":
        v[i] = rng.randint(30001, 60000)
    else:
        s = v[i].strip() if isinstance(v[i], str) else str(v[i])
        v[i] = s[:-1] + ("华" if s[-1] != "华" else "化")
    return v, f


# ------------------------------------------------------------------- notes --
def note_text(ctx, rng, c, shape):
    """(text, pii, category) for a service record."""
    nm = person_name(rng, rng.choice("男女"))[0]
    ph = mobile(rng)
    php = rng.choice([ph, "%s-%s-%s" % (ph[:3], ph[3:7], ph[7:]), ph[:3] + " " + ph[3:7] + " " + ph[7:]])
    rel = rng.choice(["配偶", "儿子", "女儿", "父亲", "母亲", "哥哥", "同事", "邻居"])
    if shape == "bank":
        t = [("客户来电咨询借记卡挂失流程，已告知需本人持证到网点办理", False, "挂失"),
             ("客户反映ATM吞卡，已联系网点处理，卡已退还", False, "投诉"),
             ("客户投诉短信提醒服务扣费，已解释收费标准并取消服务", False, "投诉"),
             ("客户要求修改预留手机号为%s，已核实身份" % php, True, "信息变更"),
             ("密码重置，已办结", False, "密码重置"), ("客户咨询大额存单利率及起存金额", False, "咨询"),
             ("客户称代其母亲%s咨询存款到期转存事宜，已告知需本人到场" % nm, True, "咨询"),
             ("客户反映手机银行无法登录，指导其重新绑定设备", False, "咨询"),
             ("客户询问网点转让后卡片是否可继续使用，已解释", False, "咨询"),
             ("客户投诉大堂经理%s服务态度，已致歉，回访电话%s" % (nm, php), True, "投诉"),
             ("客户要求开具存款证明，已预约", False, "咨询"),
             ("建议周末增开对公窗口", False, "建议")]
    elif shape == "custonly":
        t = [("电话回访，客户本人接听，称本月%d日前还款" % rng.randint(1, 28), False, "电话回访"),
             ("客户电话关机，联系紧急联系人%s（%s），电话%s，已转告还款事宜" % (nm, rel, php), True, "电话回访"),
             ("上门走访，客户外出务工，由其%s%s代收还款提醒通知书" % (rel, nm), True, "上门走访"),
             ("客户咨询提前还款手续，已告知需携带身份证原件", False, "门店接待"),
             ("客户反映还款短信未收到，核实预留手机号为%s，已更新" % php, True, "电话回访"),
             ("续贷意向登记，客户称经营正常，资金周转需求约%d万元" % rng.randint(2, 50), False, "门店接待"),
             ("客户经营的门店已转让，新联系人%s %s" % (nm, php), True, "上门走访"),
             ("逾期提醒，客户承诺下周一前补缴", False, "微信"),
             ("担保人%s表示已知晓担保责任" % nm, True, "电话回访"),
             ("客户询问营业部转让后合同是否有效，已解释", False, "门店接待")]
    else:
        t = [("顾客要求积分兑换电饭煲，已兑换并扣减积分", False, "积分兑换"),
             ("会员卡丢失补办，已换发新卡", False, "会员卡补办"), ("顾客投诉收银员找零错误，已核实并补差", False, "投诉"),
             ("顾客要求修改手机号为%s，已核对原手机验证码" % php, True, "信息变更"),
             ("顾客咨询储值卡余额能否退现，已告知规则", False, "咨询"), ("退换货：鞋码不合适，已换货", False, "退换货"),
             ("代家人%s领取生日礼品" % nm, True, "咨询"), ("顾客反映小程序积分未到账，已补录", False, "投诉"),
             ("顾客询问门店转让后积分是否保留，已解释", False, "咨询"),
             ("快递代收人%s，电话%s" % (nm, php), True, "退换货")]
    return rng.choice(t)


FORMULA_NOTES = ['=HYPERLINK("http://example.com/ticket","点我查看")', "=A1&B1", "@SUM(1)", "+1+2", "-3+5",
                 "=1+1", "=cmd|' /C notepad'!A0"]
LOOKALIKE_NOTES = ["+86 {m} 来电，咨询后挂断", "- 已回访", "-- 客户未接听 --"]


# -------------------------------------------------------------- children ----
def newest_plan(ctx, rng, c):
    """decide the newest child-transaction date for a customer and note lag / other activity."""
    last = c["last"]
    mode = wpick(rng, ["eq", "earlier", "lag"], [77, 15, 8])
    if c.get("role") in ("date_excel_serial_text", "date_unreadable"):
        mode = "eq"
    tn = last
    if mode == "lag":
        tn = last + timedelta(days=rng.randint(1, 25))
        if tn >= AS_OF:
            tn, mode = last, "eq"
    elif mode == "earlier":
        tn = last - timedelta(days=rng.randint(5, 200))
        if tn <= c["open_date"]:
            tn, mode = last, "eq"
    c["newest_txn"], c["act_mode"] = tn, mode
    return tn


def txn_dates(rng, c, k, tn):
    lo = max(c["open_date"], tn - timedelta(days=730))
    ds = sorted([rdate(rng, lo, tn) for _ in range(k - 1)] + [tn])
    out = []
    for i, d in enumerate(ds):
        h = wpick(rng, list(range(0, 24)), [1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 11, 11, 10, 9, 10, 10, 10, 10, 9, 8, 7, 5, 3, 2])
        out.append((datetime(d.year, d.month, d.day, h, rng.randint(0, 59), rng.randint(0, 59)), i == len(ds) - 1))
    return out


def n_txns(rng, c):
    return rng.randint(3, 5) if c["dormant"] else rng.randint(3, 8)


def n_service(rng):
    return wpick(rng, [0, 1, 2, 3], [40, 32, 18, 10])


def service_records(ctx, rng, c):
    out = []
    k = n_service(rng)
    if c.get("dormant"):
        k = min(k, 1)
    for _ in range(k):
        lo = max(c["open_date"], date(AS_OF.year - 6, 1, 1))
        t = rdate(rng, lo, AS_OF - timedelta(days=1))
        t = datetime(t.year, t.month, t.day, rng.randint(8, 20), rng.randint(0, 59), rng.randint(0, 59))
        text, pii, cat = note_text(ctx, rng, c, ctx.shape)
        out.append(dict(fs=rng.getrandbits(32), cust=c["key"], name=c["name"], phone=c.get("mobile"), t=t, text=text, pii=pii, cat=cat,
                        staff=person_name(rng, rng.choice("男女"))[0], parent=c))
    return out


BANK_BINS19 = ["623058", "621799", "623521"]
BANK_BINS16 = ["622908", "625916"]
CORP_BIN = "623166"


def bank_children(ctx, rng, c, ghost=False):
    accts, cards, txns = [], [], []
    P = c["ctype"] in ("P", "G")

    def new_acct(atype, ccy, card):
        while True:
            no = ("4210" + "%015d" % rng.randint(0, 10 ** 15 - 1)) if c["ctype"] in ("P", "G") or atype != "基本存款账户" \
                else ("4210" + "%013d" % rng.randint(0, 10 ** 13 - 1))
            if no not in ctx.acct_set:
                ctx.acct_set.add(no)
                return dict(fs=rng.getrandbits(32), no=no, cust=c["key"], name=c["name"], type=atype, ccy=ccy, card=card, parent=c,
                            open=c["open_date"])

    def new_card(bins, length):
        while True:
            no = make_card(rng, rng.choice(bins), length)
            if no not in ctx.card_set:
                ctx.card_set.add(no)
                return no

    if P:
        a = new_acct("活期储蓄", "人民币", True)
        accts.append(a)
        if rng.random() < 0.3:
            d = new_acct("定期储蓄", "人民币", False)
            d["open"] = rdate(rng, c["open_date"], c["last"])
            accts.append(d)
        if rng.random() < 0.08:
            accts.append(new_acct("活期储蓄", "人民币", True))
        if rng.random() < 0.04:
            accts.append(new_acct("活期储蓄", "美元", False))
        if rng.random() < 0.03:
            accts.append(new_acct("通知存款", "人民币", False))
    else:
        accts.append(new_acct("基本存款账户", "人民币", True))
        if rng.random() < 0.25:
            accts.append(new_acct("一般存款账户", "人民币", False))
    for a in accts:
        bal = rng.lognormvariate(8.5 if a["type"] != "基本存款账户" else 11, 1.4)
        if a["type"] == "定期储蓄":
            bal = float(rng.choice([1, 2, 3, 5, 10, 20, 50]) * 10000)
        if a["ccy"] == "美元":
            bal = bal / 7
        if c["dormant"]:
            bal = bal / 50
        a["bal"] = round(bal, 2)
        a["status"] = "正常"
        if c["dormant"] and a["type"] in ("活期储蓄", "基本存款账户") and rng.random() < 0.6:
            a["status"] = "久悬"
        elif rng.random() < 0.02:
            a["status"] = "冻结"
        if a["card"]:
            layout_sep = ctx.card_layout == "file"
            if c["ctype"] == "E" or c["ctype"] == "C":
                kind, no = "单位结算卡", new_card([CORP_BIN], 19)
            elif rng.random() < 0.12:
                kind, no = "借记卡(磁条)", new_card(BANK_BINS16, 16)
            else:
                kind, no = rng.choice(["借记IC卡", "借记IC卡", "金卡", "社保卡"]), new_card(BANK_BINS19, 19)
            card = dict(no=no, acct=a["no"], cust=c["key"], kind=kind, issue=a["open"], status="正常", parent=c)
            if c["dormant"]:
                card["status"] = "睡眠"
            a["card_no"] = no
            a["cards"] = [card]
            if layout_sep and rng.random() < 0.12 and (c["last"] - a["open"]).days > 400:
                rep = rdate(rng, a["open"] + timedelta(days=200), c["last"] - timedelta(days=100))
                corp = card["kind"] == "单位结算卡"
                new = dict(card, no=new_card([CORP_BIN] if corp else BANK_BINS19, 19), issue=rep,
                           kind="单位结算卡" if corp else "借记IC卡", status=card["status"])
                card["status"] = rng.choice(["已换卡", "销卡"])
                card["replaced"] = rep
                a["cards"] = [card, new]
                a["card_no"] = new["no"]
                if not ghost:
                    ctx.observe("replaced_card_still_in_transactions", card["no"])
            cards += a["cards"]
    tn = newest_plan(ctx, rng, c)
    card_accts = [a for a in accts if a.get("cards")]
    for t, newest in txn_dates(rng, c, n_txns(rng, c), tn):
        a = card_accts[0] if len(card_accts) == 1 or rng.random() < 0.8 else rng.choice(card_accts)
        card = a["cards"][-1]
        if len(a["cards"]) > 1 and t.date() < a["cards"][-1]["issue"]:
            card = a["cards"][0]
        if card["issue"] > t.date():
            card = a["cards"][0]
        dc = wpick(rng, ["借", "贷"], [62, 38])
        if dc == "借":
            summ = wpick(rng, ["ATM取款", "POS消费", "转账支出", "快捷支付", "跨行转账", "代扣水电费", "手续费"],
                         [15, 30, 15, 20, 8, 8, 4])
        else:
            summ = wpick(rng, ["工资", "转账存入", "现金存款", "利息", "退款", "代发"], [25, 30, 15, 10, 8, 12])
        if summ == "ATM取款":
            amt = float(rng.choice([100, 200, 300, 500, 1000, 2000, 3000]))
        elif summ == "利息":
            amt = round(rng.uniform(0.01, 80), 2)
        elif summ == "手续费":
            amt = rng.choice([2.0, 5.0, 10.0, 0.5])
        elif c["ctype"] in ("E", "C"):
            amt = round(rng.lognormvariate(9.5, 1.3), 2)
        else:
            amt = round(rng.lognormvariate(5.8, 1.2), 2)
        ch = {"ATM取款": "ATM", "POS消费": "POS", "快捷支付": "第三方支付", "代扣水电费": "批量", "利息": "批量",
              "工资": "批量", "代发": "批量"}.get(summ) or wpick(rng, ["柜面", "手机银行", "网上银行"], [20, 60, 20])
        if summ == "POS消费":
            cp = "%s%s%s" % (ctx.br["district"], rng.choice(ZIHAO), rng.choice(["超市", "餐厅", "药房", "加油站", "商场"]))
        elif summ in ("转账支出", "转账存入", "跨行转账"):
            cp = person_name(rng, rng.choice("男女"))[0]
        elif summ in ("工资", "代发"):
            cp = company_name(rng, ctx.br, "E")
        elif summ == "快捷支付":
            cp = rng.choice(["支付宝", "财付通", "美团", "京东支付", "云闪付"])
        else:
            cp = ""
        txns.append(dict(fs=rng.getrandbits(32), t=t, card=card["no"], cust=c["key"], dc=dc, amt=amt, bal=round(rng.uniform(0, 50000), 2),
                         summ=summ, ch=ch, cp=cp, newest=newest, parent=c, acct=a["no"]))
    return accts, cards, txns


def custonly_children(ctx, rng, c):
    txns = []
    tn = newest_plan(ctx, rng, c)
    k = n_txns(rng, c)
    dates = txn_dates(rng, c, k, tn)
    ent = c["ctype"] != "P"
    principal = float(rng.choice([5, 10, 20, 30, 50, 80, 100, 150, 200, 300]) * (10000 if ent else 1000))
    for i, (t, newest) in enumerate(dates):
        if i == 0 and rng.random() < 0.8:
            typ, amt = "放款", principal
        else:
            typ = wpick(rng, ["还款", "结息", "罚息", "提前还款", "手续费"], [60, 20, 5, 8, 7])
            if typ == "还款":
                amt = round(principal / rng.choice([6, 12, 24, 36]) * rng.uniform(1.0, 1.08), 2)
            elif typ == "结息":
                amt = round(principal * rng.uniform(0.005, 0.015), 2)
            elif typ == "罚息":
                amt = round(rng.uniform(5, 500), 2)
            elif typ == "提前还款":
                amt = round(principal * rng.uniform(0.2, 0.8), 2)
            else:
                amt = float(rng.choice([50, 100, 200]))
        txns.append(dict(fs=rng.getrandbits(32), t=t, cust=c["key"], name=c["name"], typ=typ, amt=amt, newest=newest, parent=c,
                         way="银行转账" if typ == "放款" else wpick(rng, ["银行转账", "现金", "微信", "支付宝", "代扣"],
                                                                   [45, 20, 15, 5, 15]),
                         staff=person_name(rng, rng.choice("男女"))[0]))
    return txns


def retail_children(ctx, rng, c):
    txns = []
    tn = newest_plan(ctx, rng, c)
    for t, newest in txn_dates(rng, c, n_txns(rng, c), tn):
        due = round(rng.lognormvariate(4.2, 0.9), 2)
        disc = round(due * rng.choice([0, 0, 0, 0.05, 0.1, 0.12]), 2)
        refund = rng.random() < 0.03 and not newest and bool(txns)
        txns.append(dict(fs=rng.getrandbits(32), t=t, cust=c["key"], due=-due if refund else due, disc=-disc if refund else disc,
                         refund=refund, newest=newest, parent=c, items=rng.randint(1, 15),
                         pay=wpick(rng, ["微信支付", "支付宝", "现金", "银联卡", "储值卡", "数字人民币"], [45, 30, 8, 8, 7, 2]),
                         store=wpick(rng, ["禅城季华店", "禅城绿景店", "南海桂城店"], [80, 15, 5]),
                         till="POS%02d" % rng.randint(1, 8)))
    return txns


# ------------------------------------------------------------ child planting --
CHILD_RATES = {
    "bank": {"txn": {"card_unknown": .006, "card_luhn": .006, "key_missing": .003, "exact_duplicate": .006,
                     "amount_3_decimals": .005, "date_unreadable": .003, "date_excel_serial_text": .003},
             "acct": {"exact_duplicate": .005, "amount_3_decimals": .005, "key_missing": .003,
                      "date_unreadable": .003},
             "card": {"exact_duplicate": .004},
             "svc": {"orphan": .01, "key_missing": .005, "exact_duplicate": .005, "remark_formula": .015,
                     "date_unreadable": .005}},
    "custonly": {"txn": {"orphan": .008, "key_missing": .004, "exact_duplicate": .008, "amount_3_decimals": .006,
                         "date_unreadable": .004, "date_excel_serial_text": .005},
                 "svc": {"orphan": .012, "key_missing": .006, "exact_duplicate": .006, "remark_formula": .02,
                         "date_unreadable": .006}},
    "retail": {"txn": {"orphan": .01, "key_missing": .005, "exact_duplicate": .01, "amount_3_decimals": .006,
                       "date_unreadable": .004, "date_excel_serial_text": .004},
               "svc": {"orphan": .012, "key_missing": .006, "exact_duplicate": .006, "remark_formula": .02,
                       "date_unreadable": .006}},
}


def plant(ctx, rng, recs, rates, eligible, minimum=1):
    """assign child-level defects to distinct eligible records (records get rec['defect'])."""
    pool = [i for i, r in enumerate(recs) if eligible(r)]
    rng.shuffle(pool)
    pos = 0
    for kind in sorted(rates):
        cnt = max(minimum, int(round(rates[kind] * len(recs))))
        for _ in range(cnt):
            if pos >= len(pool):
                break
            recs[pool[pos]]["defect"] = kind
            pos += 1


def txn_eligible(r):
    return (not r.get("newest")) and clean_parent(r["parent"]) and not r.get("orphan")


def txn_sort_key(r):
    return (r["t"], r.get("card") or r["cust"])


def assign_serials(ctx, txns, svcs):
    """record keys are fixed at generation so a resend carries the same journal / ticket numbers."""
    for r in sorted(txns, key=txn_sort_key):
        ctx.serial_no["txn"] += 1
        q, t = ctx.serial_no["txn"], r["t"]
        if ctx.shape == "bank":
            r["serial"] = "%s%010d" % (t.strftime("%Y%m%d"), 7000000 + q)
        elif ctx.shape == "custonly":
            r["serial"] = "LS%s%07d" % (t.strftime("%Y%m"), q)
        else:
            r["serial"] = "%s%s%06d" % (r["till"][-2:], t.strftime("%Y%m%d%H%M"), q)
    for r in sorted(svcs, key=lambda r: (r["t"], r["cust"])):
        ctx.serial_no["svc"] += 1
        r["tid"] = {"bank": "GD%s%06d", "custonly": "FW%s%06d", "retail": "SV%s%06d"}[ctx.shape] % (
            r["t"].strftime("%Y%m%d"), ctx.serial_no["svc"])


# -------------------------------------------------------------- the corpus --
def file_stamp(resend):
    return "20270101" if resend else "20261201"


def build(shape, customers, out_dir, seed=0, resend=False):
    if shape not in SHAPES:
        raise ValueError("shape must be one of %s" % (SHAPES,))
    n = int(customers)
    os.makedirs(out_dir, exist_ok=True)
    ctx = Ctx(shape, n, seed, resend)
    ctx.card_layout = "file" if seed % 2 == 0 else "column"
    ctx.acct_set, ctx.card_set = set(), set()
    custs = gen_population(ctx)
    rng = ctx.rng
    # render customer rows (same rng order whether or not this is a resend)
    render = {"bank": bank_customer_row, "custonly": custonly_customer_row, "retail": retail_member_row}[shape]
    for c in custs:
        c["row"], c["field"] = render(ctx, rng, c)
        if c["role"] == "conflicting_duplicate":
            hdr = [h for h, _ in {"bank": BANK_CUST_COLS, "custonly": CUST_CUST_COLS,
                                  "retail": RETAIL_MEMBER_COLS}[shape]]
            c["row2"], c["field2"] = conflict_variant(ctx, rng, c["row"], hdr)
        if c["expiry"] is not None and c["expiry"] < AS_OF and (shape != "retail" or c.get("has_id")):
            ctx.observe("id_expired", c["key"])
        nm = c["row"][1] if isinstance(c["row"][1], str) else ""
        try:
            nm.encode("gbk")
        except UnicodeEncodeError:
            ctx.observe("name_outside_gbk", c["key"])
        if c["dormant"]:
            ctx.observe("dormant_over_6_years", c["key"])
    # resend selection (always computed so the base export is identical either way)
    rr = ctx.rrng
    eligible = [c for c in custs if c["role"] is None]
    rr.shuffle(eligible)
    nw, na, nc = max(1, round(.03 * n)), max(1, round(.02 * n)), max(1, round(.02 * n))
    nn = max(1, round(.01 * n))
    withdrawn, absent, changed = eligible[:nw], eligible[nw:nw + na], eligible[nw + na:nw + na + nc]
    for c in withdrawn + absent + changed:
        c["resend_touched"] = True
    # children
    cr = ctx.crng
    spare = list(ctx.spare_keys)
    n_ghost = max(2, round(.01 * n)) if shape == "bank" else 0
    ghosts = []
    for gk in spare[:n_ghost]:
        g = gen_person(ctx, cr, "RID", gk)
        g.update(role=None, prof="RID", ghost=True)
        lifecycle(ctx, cr, g, dormant=False)
        ghosts.append(g)
    new_keys = spare[len(spare) - nn:]  # reserved for customers opened after the first export (--resend)
    orphan_keys = spare[n_ghost:len(spare) - nn]
    accts, cards, txns, svcs = [], [], [], []
    for c in custs + ghosts:
        if c["role"] == "key_missing":
            continue
        if shape == "bank":
            a, k, t = bank_children(ctx, cr, c, ghost=c.get("ghost", False))
            accts += a
            cards += k
            txns += t
        elif shape == "custonly":
            txns += custonly_children(ctx, cr, c)
        else:
            txns += retail_children(ctx, cr, c)
        if not c.get("ghost"):
            svcs += service_records(ctx, cr, c)
    for r in accts + cards + txns:
        if r["parent"].get("ghost"):
            r["orphan"] = True
    ctx.serial_no = {"txn": 0, "svc": 0}
    assign_serials(ctx, txns, svcs)
    for c in custs:
        if c["role"] != "key_missing":
            if c["act_mode"] == "lag":
                ctx.observe("newest_transaction_after_file_date", c["key"])
            elif c["act_mode"] == "earlier":
                ctx.observe("file_date_after_newest_transaction", c["key"])
    rates = CHILD_RATES[shape]
    plant(ctx, cr, txns, rates["txn"], txn_eligible)
    plant(ctx, cr, svcs, rates["svc"], lambda r: clean_parent(r["parent"]))
    if shape == "bank":
        plant(ctx, cr, accts, {k: v for k, v in rates["acct"].items() if k != "exact_duplicate"},
              lambda r: clean_parent(r["parent"]) and not r["card"] and not r.get("orphan"))
        plant(ctx, cr, accts, {"exact_duplicate": rates["acct"]["exact_duplicate"]},
              lambda r: clean_parent(r["parent"]) and not r.get("orphan") and "defect" not in r)
        if ctx.card_layout == "file":
            plant(ctx, cr, cards, rates["card"], lambda r: clean_parent(r["parent"]) and not r.get("orphan"))
    # orphans for custonly / retail / service logs: reference customers that do not exist
    oi = 0
    for r in txns + svcs:
        if r.get("defect") == "orphan":
            r["cust"] = orphan_keys[oi % len(orphan_keys)]
            oi += 1
    # ------------------------------------------------------------- resend --
    resend_info = None
    new_custs = []
    if resend:
        for c in withdrawn:
            c["role"] = "no_consent"
            hdr_c = {"bank": "信息转移同意", "custonly": "授权转移", "retail": "同意信息转移"}[shape]
            c["row"][col_index(shape, hdr_c)] = "否"
            c["field"] = hdr_c
        changed_fields = {}
        for c in changed:
            if shape == "retail" or rr.random() < 0.5:
                f = {"bank": "手机号码", "custonly": "手机号码", "retail": "手机号"}[shape]
                m = mobile(rr)
                old = c["row"][col_index(shape, f)]
                c["row"][col_index(shape, f)] = m
                c["mobile"] = m
            else:
                f = {"bank": "联系地址", "custonly": "居住地址"}[shape]
                old = c["row"][col_index(shape, f)]
                c["row"][col_index(shape, f)] = address(rr, ctx.br)
            changed_fields[c["key"]] = {"field": f, "old": old.v if isinstance(old, XNum) else old,
                                        "new": c["row"][col_index(shape, f)]}
        absent_keys = {c["key"] for c in absent}
        custs = [c for c in custs if c["key"] not in absent_keys]
        accts = [r for r in accts if r["parent"]["key"] not in absent_keys]
        cards = [r for r in cards if r["parent"]["key"] not in absent_keys]
        txns = [r for r in txns if r["parent"]["key"] not in absent_keys]
        svcs = [r for r in svcs if r["parent"]["key"] not in absent_keys]
        # new customers opened after the first export
        for key in new_keys:
            prof = "RID" if shape == "retail" or rr.random() < 0.8 else "E:USCC"
            c = make_customer(ctx, rr, prof, key, None)
            c["role"] = None
            c["open_date"] = rdate(rr, AS_OF + timedelta(days=1), RESEND_AS_OF - timedelta(days=5))
            c["last"] = rdate(rr, c["open_date"], RESEND_AS_OF - timedelta(days=2))
            c["dormant"] = False
            c["row"], c["field"] = render(ctx, rr, c)
            c["resend_new"] = True
            new_custs.append(c)
            if shape == "bank":
                a, k, t = bank_children(ctx, rr, c)
                accts += a
                cards += k
                txns += t
            elif shape == "custonly":
                txns += custonly_children(ctx, rr, c)
            else:
                txns += retail_children(ctx, rr, c)
            svcs += service_records(ctx, rr, c)
        assign_serials(ctx, [r for r in txns if "serial" not in r], [r for r in svcs if "tid" not in r])
        custs = sorted(custs + new_custs, key=lambda c: c["key"])
        resend_info = {"first_export_as_of": AS_OF.isoformat(), "as_of": RESEND_AS_OF.isoformat(),
                       "withdrawn": sorted(c["key"] for c in withdrawn),
                       "absent": sorted(absent_keys),
                       "changed": sorted(changed_fields), "changed_fields": changed_fields,
                       "new": sorted(c["key"] for c in new_custs),
                       "note": "withdrawn customers now carry consent 否 (expect exclude, children exclude) and "
                               "whatever was loaded for them from the first export must be removed; absent "
                               "customers and all their records are missing from this export; changed customers "
                               "differ only in the named field; new customers opened after 2026-12-02."}
    accts.sort(key=lambda r: r["cust"])
    cards.sort(key=lambda r: r["cust"])
    truth = Truth()
    writer = {"bank": write_bank, "custonly": write_custonly, "retail": write_retail}[shape]
    writer(ctx, out_dir, custs, accts, cards, txns, svcs, truth, resend)
    # last activity truth
    la = {}
    for c in custs:
        if c["role"] == "key_missing" or cust_status(c)[0] not in ("load", "depends"):
            continue
        best = c["last"]
        for d in c.get("_txn_dates", []):
            if d > best:
                best = d
        la[c["key"]] = best.isoformat()
    truth_doc = {
        "shape": shape, "customers": n, "seed": seed,
        "as_of": (RESEND_AS_OF if resend else AS_OF).isoformat(),
        "generator": "tests/corpus/exports/build.py (independent contributor; see PROVENANCE.md)",
        "branch": {"name": ctx.br["org"], "admin_code": ctx.br["admin"]},
        "card_layout": ctx.card_layout if shape == "bank" else None,
        "files": truth.files,
        "id_type_codes": ID_TYPE_CODES_BANK if shape == "bank" else ID_TYPE_LABELS_CUST if shape == "custonly" else None,
        "expect_values": {"load": "load the row", "withhold": "quarantine the row (defect in an identifier/key/reference)",
                          "exclude": "do not load: no consent (the customer and every child record)",
                          "duplicate": "byte-identical repeat of an earlier row: collapse and count",
                          "depends": "field-level defect in a non-identifier field: outcome per the receiving "
                                     "team's contract (null the field and load with an issue, or withhold)"},
        "child_rules": {"parent_withheld": "child of a withheld customer: withhold",
                        "parent_excluded": "child of a customer without consent: exclude",
                        "parent_depends": "child of a customer whose row is 'depends': follows the parent's outcome",
                        "orphan": "references a customer that is not in the customer file: withhold"},
        "counts": {},
        "rows": sorted(truth.rows, key=lambda r: (r["file"], r["line"])),
        "last_activity": dict(sorted(la.items())),
        "last_activity_rule": "max(true 最近交易日期 of the customer file, newest transaction date that is loaded or "
                              "depends); only customers whose row is load or depends",
        "observations": {k: sorted(set(v)) for k, v in sorted(ctx.observations.items())
                         if k != "formula_lookalike_remark" or True},
    }
    if resend_info:
        truth_doc["resend"] = resend_info
    cnt = {}
    for r in truth_doc["rows"]:
        for d in r["defects"] + r["issues"]:
            cnt.setdefault(r["entity"], {}).setdefault(d, 0)
            cnt[r["entity"]][d] += 1
        cnt.setdefault("expect", {}).setdefault(r["expect"], 0)
        cnt["expect"][r["expect"]] += 1
    truth_doc["counts"] = {k: dict(sorted(v.items())) for k, v in sorted(cnt.items())}
    with open(os.path.join(out_dir, "truth.json"), "w", encoding="utf-8", newline="\n") as f:
        f.write(dump_truth(truth_doc))
    return truth_doc


def dump_truth(doc):
    parts = []
    for k, v in doc.items():
        if k == "rows":
            inner = ",\n".join("  " + json.dumps(r, ensure_ascii=False, sort_keys=False) for r in v)
            parts.append('"rows": [\n%s\n]' % inner)
        else:
            parts.append("%s: %s" % (json.dumps(k), json.dumps(v, ensure_ascii=False, indent=1)))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def col_index(shape, header):
    cols = {"bank": BANK_CUST_COLS, "custonly": CUST_CUST_COLS, "retail": RETAIL_MEMBER_COLS}[shape]
    return [h for h, _ in cols].index(header)


def order_with_duplicates(rng, items, dup_pred, conflict_pred):
    """customer-file order: by key; exact duplicates right after (paging bug) or later; conflicting second
    versions appended near the end (補录 / re-extracted rows)."""
    out = []
    later = []
    for c in items:
        out.append(("main", c))
        if dup_pred(c):
            if rng.random() < 0.6:
                out.append(("dup", c))
            else:
                later.append(("dup", c))
        if conflict_pred(c):
            later.append(("conflict", c))
    for x in later:
        at = next(i for i, y in enumerate(out) if y[0] == "main" and y[1] is x[1])
        pos = rng.randint(max(at + 1, len(out) * 2 // 3), len(out))
        out.insert(pos, x)
    return out


def customer_truth(shape, c, kind):
    key = c["key"] if c["role"] != "key_missing" else None
    if kind == "dup":
        return dict(key=key, expect="duplicate", defects=["exact_duplicate"], issues=[])
    e, d = cust_status(c)
    issues = ["remark_formula"] if c["role"] == "remark_formula" else []
    if c["role"] in ("exact_duplicate", "remark_formula"):
        d = []
        e = "load"
    extra = {}
    if c.get("field") and c["role"] not in (None, "exact_duplicate"):
        extra["field"] = c["field"] if kind != "conflict" else c.get("field2")
    if c["role"] == "conflicting_duplicate":
        extra["field"] = c.get("field2")
    return dict(key=key, expect=e, defects=d, issues=issues, **extra)


def write_customers_csv(ctx, out_dir, fname, cols, custs, truth, encoding, newline):
    rng = random.Random("%s|%d|order" % (ctx.shape, ctx.seed))
    seq = order_with_duplicates(rng, custs, lambda c: c["role"] == "exact_duplicate",
                                lambda c: c["role"] == "conflicting_duplicate")
    recs = [(c["row2"] if k == "conflict" else c["row"]) for k, c in seq]
    lines = write_csv(os.path.join(out_dir, fname), [h for h, _ in cols], recs, encoding, newline)
    for (k, c), ln in zip(seq, lines):
        t = customer_truth(ctx.shape, c, k)
        truth.add(fname, ln, "customers", t.pop("key"), t.pop("expect"), t.pop("defects"), t.pop("issues"), **t)
    return len(recs)


def child_truth(r, orphan_ok=True):
    d = r.get("defect")
    if r.get("orphan"):
        return "withhold", ["orphan"], []
    if d in ("orphan", "card_unknown", "card_luhn", "key_missing"):
        return "withhold", [d], []
    if d == "exact_duplicate_copy":
        return "duplicate", ["exact_duplicate"], []
    if d in DEPENDS_KINDS:
        return "depends", [d], []
    if d == "remark_formula":
        e, dd = child_status(r["parent"])
        return e, dd, ["remark_formula"]
    e, dd = child_status(r["parent"])
    return e, dd, []


def expand_dups(rng, recs):
    """records with defect exact_duplicate are written twice: original (clean) + byte-identical copy."""
    out = []
    later = []
    for r in recs:
        if r.get("defect") == "exact_duplicate":
            r["defect"] = None
            out.append(r)
            cp = dict(r)
            cp["defect"] = "exact_duplicate_copy"
            cp["_copy_of"] = r
            if rng.random() < 0.7:
                out.append(cp)
            else:
                later.append(cp)
        else:
            out.append(r)
    for x in later:
        at = next(i for i, y in enumerate(out) if y is x["_copy_of"])
        out.insert(rng.randint(max(at + 1, len(out) // 2), len(out)), x)
    return out


def note_txn_date(r):
    e, d, _ = child_truth(r)
    if e in ("load", "depends") and r.get("defect") not in ("date_unreadable", "date_excel_serial_text"):
        r["parent"].setdefault("_txn_dates", []).append(r["t"].date())


# ------------------------------------------------------------- bank files ---
def write_bank(ctx, out_dir, custs, accts, cards, txns, svcs, truth, resend):
    st = file_stamp(resend)
    rng = random.Random("bank|%d|files|%s" % (ctx.seed, resend))
    fr = random.Random("bank|%d|fmt" % ctx.seed)
    # customers
    cf = "对私对公客户信息_%s.csv" % st
    n_c = write_customers_csv(ctx, out_dir, cf, BANK_CUST_COLS, custs, truth, "gb18030", "\r\n")
    truth.files[cf] = {"entity": "customers", "format": "csv", "encoding": "gb18030", "newline": "CRLF",
                       "delimiter": ",", "bom": False, "sheet": None, "header_line": 1, "data_rows": n_c,
                       "columns": dict(BANK_CUST_COLS),
                       "system": "bank core CIF (客户信息) batch export"}
    # accounts (xlsx)
    af = "账户信息_%s.xlsx" % st
    acols = [("账号", "account number, 19 digits (enterprise basic accounts 17) - text cell"),
             ("客户号", "owner's customer number (text cell, leading zero)"),
             ("户名", "account name"),
             ("账户类型", "活期储蓄 / 定期储蓄 / 通知存款 / 基本存款账户 / 一般存款账户"),
             ("币种", "人民币 / 美元"),
             ("账户余额", "balance: number cell with #,##0.00, or text like ¥12,345.60 / 12,345.60 / -1,200.00"),
             ("开户日期", "open date: Excel date cell (yyyy-mm-dd or yyyy/m/d), a few as text"),
             ("账户状态", "正常 / 久悬 (dormant) / 冻结"),
             ("开户网点", "opening outlet")]
    if ctx.card_layout == "column":
        acols.insert(2, ("卡号", "card number bound to the account (blank for accounts without a card); this "
                                "is the only card source when card_layout=column"))
    hdr = [h for h, _ in acols]
    arecs = expand_dups(rng, accts)
    rows = [hdr]
    meta = []
    for r in arecs:
        d = r.get("defect")
        pr = random.Random(r["fs"])
        bal = r["bal"]
        if d == "amount_3_decimals":
            bal_v = round(bal, 0) + pr.choice([0.125, 0.345, 0.999, 0.001])
            bal_v = bal_v if pr.random() < 0.5 else "%.3f" % bal_v
        elif pr.random() < 0.7:
            bal_v = XNum(bal, "#,##0.00")
        else:
            bal_v = fmt_amount(bal, pr, wpick(pr, ["comma", "plain"], [70, 30]), yen="¥" if pr.random() < 0.5 else None)
        od = r["open"]
        if d == "date_unreadable":
            od_v = unreadable_date(pr, od)
        elif pr.random() < 0.93:
            od_v = XDate(datetime(od.year, od.month, od.day), pr.choice(["yyyy-mm-dd", "yyyy/m/d"]))
        else:
            od_v = fmt_date(od, "compact")
        row = ["" if d == "key_missing" else r["no"], r["cust"], r["name"], r["type"], r["ccy"], bal_v, od_v,
               r["status"], "汉阳支行营业部" if pr.random() < 0.85 else "汉阳支行鹦鹉洲分理处"]
        if ctx.card_layout == "column":
            row.insert(2, r.get("card_no", ""))
        if d == "exact_duplicate_copy":
            row = list(r["_copy_of"]["_row"])
        r["_row"] = row
        rows.append(row)
        meta.append(r)
    sheet = "账户信息"
    write_xlsx(os.path.join(out_dir, af), [(sheet, rows, {0})])
    for i, r in enumerate(meta):
        e, d, iss = child_truth(r)
        extra = {"field": {"amount_3_decimals": "账户余额", "date_unreadable": "开户日期", "key_missing": "账号"}.get(
            r.get("defect"))} if r.get("defect") in ("amount_3_decimals", "date_unreadable", "key_missing") else {}
        truth.add(af, i + 2, "accounts", None if r.get("defect") == "key_missing" else r["no"], e, d, iss,
                  parent=r["cust"], **extra)
    truth.files[af] = {"entity": "accounts", "format": "xlsx", "encoding": None, "sheet": sheet, "header_line": 1,
                       "data_rows": len(meta), "columns": dict(acols), "system": "account system (账户) export"}
    # cards
    if ctx.card_layout == "file":
        kf = "卡片信息_%s.txt" % st
        kcols = [("卡号", "UnionPay card number 62..., 16 or 19 digits, Luhn"), ("账号", "account the card is bound to"),
                 ("客户号", "card holder's customer number"), ("卡种", "借记IC卡 / 金卡 / 社保卡 / 借记卡(磁条) / 单位结算卡"),
                 ("卡状态", "正常 / 睡眠 / 已换卡 / 销卡 - replaced cards keep resolving for old transactions"),
                 ("发卡日期", "issue date YYYYMMDD"), ("卡有效期", "expiry as on the card, MM/YY")]
        krecs = expand_dups(rng, cards)
        recs = []
        for r in krecs:
            if r.get("defect") == "exact_duplicate_copy":
                rec = r["_copy_of"]["_rec"]
            else:
                exp = r["issue"].replace(year=r["issue"].year + 10) if not (r["issue"].month == 2 and r["issue"].day == 29) \
                    else date(r["issue"].year + 10, 2, 28)
                rec = [r["no"], r["acct"], r["cust"], r["kind"], r["status"], fmt_date(r["issue"], "compact"),
                       "%02d/%02d" % (exp.month, exp.year % 100)]
            r["_rec"] = rec
            recs.append(rec)
        lines = write_csv(os.path.join(out_dir, kf), [h for h, _ in kcols], recs, "gb18030", "\n", delimiter="|",
                          trailing_delim=True)
        for r, ln in zip(krecs, lines):
            e, d, iss = child_truth(r)
            truth.add(kf, ln, "cards", r["no"], e, d, iss, parent=r["cust"], account=r["acct"])
        truth.files[kf] = {"entity": "cards", "format": "csv", "encoding": "gb18030", "newline": "LF",
                           "delimiter": "|", "trailing_delimiter": True, "bom": False, "sheet": None,
                           "header_line": 1, "data_rows": len(recs), "columns": dict(kcols),
                           "system": "card system (卡系统) pipe-delimited batch file; every line, header included, "
                                     "ends with a trailing |"}
    # transactions
    tf = "交易明细_%s.csv" % st
    tcols = [("交易流水号", "core journal number, record key"), ("交易日期", "posting date (mostly 2024-01-05)"),
             ("交易时间", "time HH:MM:SS"),
             ("卡号", "card number, TAB-prefixed by the exporter so Excel keeps it as text; resolve card -> account"),
             ("客户号", "card holder's customer number, TAB-prefixed"), ("借贷标志", "借 = debit, 贷 = credit"),
             ("交易金额", "amount CNY, positive; 1234.50 or 1,234.50"), ("币种", "currency"),
             ("账户余额", "balance after posting"), ("摘要", "narrative"), ("交易渠道", "channel"),
             ("对方户名", "counterparty / merchant")]
    trecs = sorted(txns, key=lambda r: (r["t"], r["card"]))
    trecs = expand_dups(rng, trecs)
    recs = []
    for r in trecs:
        d = r.get("defect")
        if d == "exact_duplicate_copy":
            recs.append(r["_copy_of"]["_rec"])
            continue
        pr = random.Random(r["fs"])
        card = r["card"]
        if d == "card_unknown":
            while True:
                card = make_card(pr, pr.choice(BANK_BINS19), 19)
                if card not in ctx.card_set:
                    break
        elif d == "card_luhn":
            card = card[:-1] + str((int(card[-1]) + pr.randint(1, 9)) % 10)
        card_v = "\t" + card if pr.random() < 0.97 else "\t" + " ".join(card[i:i + 4] for i in range(0, len(card), 4))
        cust_v = "\t" + r["cust"]
        if d == "key_missing":
            card_v, cust_v = "", ""
        t = r["t"]
        if d == "date_excel_serial_text":
            dd = str(excel_serial(t.date()))
        elif d == "date_unreadable":
            dd = unreadable_date(pr, t.date())
        else:
            dd = fmt_date(t.date(), wpick(pr, ["iso", "slash", "compact"], [90, 5, 5]))
        amt = r["amt"]
        amt_v = ("%.3f" % (amt + pr.choice([0.001, 0.005, 0.009]))) if d == "amount_3_decimals" else fmt_amount(amt, pr)
        rec = [r["serial"], dd, "%02d:%02d:%02d" % (t.hour, t.minute, t.second), card_v, cust_v, r["dc"], amt_v,
               "人民币", fmt_amount(r["bal"], pr, "plain"), r["summ"], r["ch"], r["cp"]]
        r["_rec"] = rec
        r["card_written"] = card
        recs.append(rec)
    lines = write_csv(os.path.join(out_dir, tf), [h for h, _ in tcols], recs, "utf-8-sig", "\n")
    for r, ln in zip(trecs, lines):
        e, d, iss = child_truth(r)
        note_txn_date(r)
        extra = {}
        if r.get("defect") in ("amount_3_decimals", "date_unreadable", "date_excel_serial_text"):
            extra["field"] = "交易金额" if r["defect"] == "amount_3_decimals" else "交易日期"
        src = r["_copy_of"] if r.get("defect") == "exact_duplicate_copy" else r
        truth.add(tf, ln, "transactions", r["serial"], e, d, iss,
                  parent=None if src.get("defect") == "key_missing" else src.get("card_written", r["card"]),
                  customer=None if src.get("defect") == "key_missing" else r["cust"],
                  account=r["acct"] if src.get("defect") not in ("card_unknown", "card_luhn", "key_missing") else None,
                  **extra)
    truth.files[tf] = {"entity": "transactions", "format": "csv", "encoding": "utf-8-sig", "newline": "LF",
                       "delimiter": ",", "bom": True, "sheet": None, "header_line": 1, "data_rows": len(recs),
                       "columns": dict(tcols), "system": "card transaction journal (交易明细), keyed by card number"}
    write_service_xlsx(ctx, out_dir, svcs, truth, resend, rng, fr)


def write_service_xlsx(ctx, out_dir, svcs, truth, resend, rng, fr):
    shape = ctx.shape
    st = file_stamp(resend)
    if shape == "bank":
        fname, sheet = "客服工单_%s.xlsx" % st, "工单明细"
        cols = [("工单编号", "ticket number, record key"), ("客户号", "customer number (text cell)"),
                ("客户姓名", "customer name as typed by the agent"), ("联系电话", "caller number"),
                ("受理时间", "date-time cell (some tickets: text)"), ("受理渠道", "channel"), ("业务类型", "category"),
                ("工单内容", "free-text notes - data; may name third persons and phone numbers, may start with = @ + -"),
                ("处理状态", "status"), ("处理人", "agent")]
    elif shape == "custonly":
        fname, sheet = "客户服务记录.xlsx", "Sheet1"
        cols = [("记录编号", "record number, record key"), ("客户编号", "customer number"), ("客户名称", "name"),
                ("服务时间", "date-time cell or text"), ("服务方式", "电话回访 / 上门走访 / 门店接待 / 微信"),
                ("服务人员", "loan officer"),
                ("服务内容", "free-text notes - data; often names relatives/guarantors and their phone numbers"),
                ("下次跟进日期", "next follow-up date (text, often blank)")]
    else:
        fname, sheet = "会员服务记录_%s.xlsx" % st, "服务记录"
        cols = [("服务单号", "service ticket, record key"), ("会员卡号", "member card number"), ("会员姓名", "name"),
                ("联系手机", "mobile (number cell or text)"), ("服务时间", "date-time cell"),
                ("服务类型", "category"), ("服务内容", "free-text notes - data"), ("处理门店", "store"),
                ("处理人", "staff")]
    hdr = [h for h, _ in cols]
    recs = sorted(svcs, key=lambda r: (r["t"], r["cust"]))
    recs = expand_dups(rng, recs)
    rows = [hdr]
    meta = []
    for r in recs:
        d = r.get("defect")
        if d == "exact_duplicate_copy":
            rows.append(list(r["_copy_of"]["_row"]))
            meta.append(r)
            continue
        pr = random.Random(r["fs"])
        t = r["t"]
        issues = []
        if d == "remark_formula":
            text = pr.choice(FORMULA_NOTES)
        elif pr.random() < 0.01:
            text = pr.choice(LOOKALIKE_NOTES).replace("{m}", mobile(pr))
            ctx.observe("formula_lookalike_note", r["tid"])
        else:
            text = r["text"]
            if r["pii"]:
                issues.append("notes_pii")
        r["_issues"] = issues
        cust = "" if d == "key_missing" else r["cust"]
        if d == "date_unreadable":
            tv = unreadable_date(pr, t.date()) + " %02d:%02d" % (t.hour, t.minute)
        elif pr.random() < 0.9:
            tv = XDate(t, "yyyy-mm-dd hh:mm:ss" if shape != "custonly" else "yyyy/m/d h:mm")
        else:
            tv = fmt_dt(t, pr.choice(["iso", "slash"]))
        name = r["name"] if d != "orphan" else person_name(pr, pr.choice("男女"))[0]
        ph = r.get("phone") or mobile(pr)
        if shape == "bank":
            row = [r["tid"], cust, name, ph if pr.random() < 0.8 else show_mobile(ph, pr), tv,
                   wpick(pr, ["95xxx电话", "柜面", "手机银行", "微信银行", "网点大堂"], [45, 25, 15, 10, 5]),
                   r["cat"],
                   text, wpick(pr, ["已办结", "处理中", "已回访"], [80, 5, 15]), "%s(%s)" % (r["staff"], "K%03d" % pr.randint(1, 80))]
        elif shape == "custonly":
            nxt = "" if pr.random() < 0.6 else fmt_date(t.date() + timedelta(days=pr.randint(3, 40)), "slash")
            row = [r["tid"], cust, name, tv, r["cat"],
                   r["staff"], text, nxt]
        else:
            row = [r["tid"], cust, name, XNum(int(ph), "0") if pr.random() < 0.5 else ph, tv,
                   r["cat"],
                   text, wpick(pr, ["禅城季华店", "禅城绿景店", "南海桂城店"], [80, 15, 5]), r["staff"]]
        r["_row"] = row
        rows.append(row)
        meta.append(r)
    sheets = [(sheet, rows, {0})]
    if shape == "bank":
        sheets.append(("导出说明", [["导出系统", "客户服务工单系统"], ["导出条件", "受理机构=汉阳支行；时间=全部"],
                                  ["导出人", "K017"], ["导出时间", "2026-12-01 18:30:00" if not resend else "2027-01-01 18:30:00"],
                                  ["说明", "本文件含客户个人信息，请妥善保管"]], set()))
    write_xlsx(os.path.join(out_dir, fname), sheets)
    for i, r in enumerate(meta):
        e, d, iss = child_truth(r)
        src = r["_copy_of"] if r.get("defect") == "exact_duplicate_copy" else r
        if r.get("defect") != "exact_duplicate_copy":
            iss = iss + src.get("_issues", [])
        extra = {"field": hdr[4] if shape != "custonly" else hdr[3]} if r.get("defect") == "date_unreadable" else {}
        truth.add(fname, i + 2, "interactions", r["tid"], e, d, iss,
                  parent=None if src.get("defect") == "key_missing" else src["cust"], **extra)
    truth.files[fname] = {"entity": "interactions", "format": "xlsx", "encoding": None, "sheet": sheet,
                          "header_line": 1, "data_rows": len(meta), "columns": dict(cols),
                          "other_sheets": ["导出说明"] if shape == "bank" else [],
                          "system": {"bank": "call-centre / counter ticket system", "custonly": "CRM follow-up log",
                                     "retail": "membership service desk log"}[shape]}


# --------------------------------------------------------- custonly files ---
def write_custonly(ctx, out_dir, custs, accts, cards, txns, svcs, truth, resend):
    rng = random.Random("custonly|%d|files|%s" % (ctx.seed, resend))
    fr = random.Random("custonly|%d|fmt" % ctx.seed)
    cf = "客户信息表.csv" if not resend else "客户信息表(第二次导出).csv"
    n_c = write_customers_csv(ctx, out_dir, cf, CUST_CUST_COLS, custs, truth, "gb18030", "\r\n")
    truth.files[cf] = {"entity": "customers", "format": "csv", "encoding": "gb18030", "newline": "CRLF",
                       "delimiter": ",", "bom": False, "sheet": None, "header_line": 1, "data_rows": n_c,
                       "columns": dict(CUST_CUST_COLS), "system": "small-loan company CRM customer export"}
    tf = "交易流水.csv" if not resend else "交易流水(第二次导出).csv"
    tcols = [("流水号", "journal number, record key"), ("客户编号", "customer number - the ONLY link to a customer"),
             ("客户名称", "name at posting time"),
             ("交易时间", "date-time in mixed spellings: 2024-01-05 13:45:00, 2024/1/5 13:45, 20240105134500, "
                      "2024年1月5日 13:45, 2024-01-05T13:45:00"),
             ("业务类型", "放款 / 还款 / 结息 / 罚息 / 提前还款 / 手续费"), ("交易金额", "amount CNY"),
             ("收付方式", "payment method"), ("经办人", "officer")]
    trecs = expand_dups(rng, sorted(txns, key=lambda r: (r["t"], r["cust"])))
    recs = []
    for r in trecs:
        d = r.get("defect")
        if d == "exact_duplicate_copy":
            recs.append(r["_copy_of"]["_rec"])
            continue
        pr = random.Random(r["fs"])
        t = r["t"]
        if d == "date_excel_serial_text":
            tv = "%.4f" % (excel_serial(t.date()) + (t.hour * 3600 + t.minute * 60) / 86400) if pr.random() < 0.5 \
                else str(excel_serial(t.date()))
        elif d == "date_unreadable":
            tv = unreadable_date(pr, t.date())
        else:
            tv = fmt_dt(t, wpick(pr, ["iso", "slash", "compact", "cn", "isoT"], [45, 28, 17, 5, 5]))
        amt_v = "%.3f" % (r["amt"] + 0.005) if d == "amount_3_decimals" else fmt_amount(r["amt"], pr)
        rec = [r["serial"], "" if d == "key_missing" else r["cust"],
               r["name"] if d != "orphan" else person_name(pr, "男")[0], tv, r["typ"], amt_v, r["way"], r["staff"]]
        r["_rec"] = rec
        recs.append(rec)
    lines = write_csv(os.path.join(out_dir, tf), [h for h, _ in tcols], recs, "utf-8", "\r\n")
    for r, ln in zip(trecs, lines):
        e, d, iss = child_truth(r)
        note_txn_date(r)
        src = r["_copy_of"] if r.get("defect") == "exact_duplicate_copy" else r
        extra = {}
        if r.get("defect") in ("amount_3_decimals", "date_unreadable", "date_excel_serial_text"):
            extra["field"] = "交易金额" if r["defect"] == "amount_3_decimals" else "交易时间"
        truth.add(tf, ln, "transactions", r["serial"], e, d, iss,
                  parent=None if src.get("defect") == "key_missing" else src["cust"], **extra)
    truth.files[tf] = {"entity": "transactions", "format": "csv", "encoding": "utf-8", "newline": "CRLF",
                       "delimiter": ",", "bom": False, "sheet": None, "header_line": 1, "data_rows": len(recs),
                       "columns": dict(tcols), "system": "loan ledger postings keyed by customer number only"}
    write_service_xlsx(ctx, out_dir, svcs, truth, resend, rng, fr)


# ----------------------------------------------------------- retail files ---
def write_retail(ctx, out_dir, custs, accts, cards, txns, svcs, truth, resend):
    st = file_stamp(resend)
    rng = random.Random("retail|%d|files|%s" % (ctx.seed, resend))
    fr = random.Random("retail|%d|fmt" % ctx.seed)
    mf = "会员资料导出_%s.xlsx" % st
    orng = random.Random("retail|%d|order" % ctx.seed)
    seq = order_with_duplicates(orng, custs, lambda c: c["role"] == "exact_duplicate",
                                lambda c: c["role"] == "conflicting_duplicate")
    hdr = [h for h, _ in RETAIL_MEMBER_COLS]
    stamp = "2026-12-01 18:30:12" if not resend else "2027-01-01 18:31:40"
    rows = [["会员资料导出"], ["门店：禅城季华店    导出时间：%s    导出人：店长01    共 %d 条" % (stamp, len(seq))], hdr]
    for k, c in seq:
        rows.append(list(c["row2"] if k == "conflict" else c["row"]))
    write_xlsx(os.path.join(out_dir, mf), [("会员列表", rows, {0, 2})], creator="会员管理系统")
    for i, (k, c) in enumerate(seq):
        t = customer_truth("retail", c, k)
        truth.add(mf, i + 4, "customers", t.pop("key"), t.pop("expect"), t.pop("defects"), t.pop("issues"), **t)
    truth.files[mf] = {"entity": "customers", "format": "xlsx", "encoding": None, "sheet": "会员列表",
                       "header_line": 3, "data_rows": len(seq), "columns": dict(RETAIL_MEMBER_COLS),
                       "preamble": "row 1 title, row 2 store / export time / row count; header on row 3",
                       "system": "SaaS membership system (会员管理) export"}
    tf = "消费明细_%s.csv" % st
    tcols = [("小票号", "receipt number, record key"), ("会员卡号", "member card number - link to the member"),
             ("消费时间", "date-time, 2024-01-05 13:45:12 or 2024/1/5 13:45"), ("门店", "store"), ("收银台", "till"),
             ("商品件数", "item count"), ("应收金额", "gross amount CNY (negative for 退货)"),
             ("优惠金额", "discount CNY"), ("实收金额", "amount paid CNY, may carry ¥ or thousands separator"),
             ("支付方式", "payment method"), ("本次积分", "points earned"), ("单据类型", "销售 = sale, 退货 = refund")]
    trecs = expand_dups(rng, sorted(txns, key=lambda r: (r["t"], r["cust"])))
    recs = []
    for r in trecs:
        d = r.get("defect")
        if d == "exact_duplicate_copy":
            recs.append(r["_copy_of"]["_rec"])
            continue
        pr = random.Random(r["fs"])
        t = r["t"]
        if d == "date_excel_serial_text":
            tv = str(excel_serial(t.date()))
        elif d == "date_unreadable":
            tv = unreadable_date(pr, t.date())
        else:
            tv = fmt_dt(t, wpick(pr, ["iso", "slash"], [75, 25]))
        paid = round(r["due"] - r["disc"], 2)
        paid_v = "%.3f" % (paid + 0.005) if d == "amount_3_decimals" else fmt_amount(
            paid, pr, wpick(pr, ["plain", "comma"], [92, 8]), yen="¥" if pr.random() < 0.1 else None)
        rec = [r["serial"], "" if d == "key_missing" else r["cust"], tv, r["store"], r["till"],
               str(-r["items"] if r["refund"] else r["items"]), "%.2f" % r["due"], "%.2f" % r["disc"], paid_v,
               r["pay"], str(int(paid)), "退货" if r["refund"] else "销售"]
        r["_rec"] = rec
        recs.append(rec)
    lines = write_csv(os.path.join(out_dir, tf), [h for h, _ in tcols], recs, "utf-8-sig", "\r\n")
    for r, ln in zip(trecs, lines):
        e, d, iss = child_truth(r)
        note_txn_date(r)
        src = r["_copy_of"] if r.get("defect") == "exact_duplicate_copy" else r
        extra = {}
        if r.get("defect") in ("amount_3_decimals", "date_unreadable", "date_excel_serial_text"):
            extra["field"] = "实收金额" if r["defect"] == "amount_3_decimals" else "消费时间"
        truth.add(tf, ln, "transactions", r["serial"], e, d, iss,
                  parent=None if src.get("defect") == "key_missing" else src["cust"], **extra)
    truth.files[tf] = {"entity": "transactions", "format": "csv", "encoding": "utf-8-sig", "newline": "CRLF",
                       "delimiter": ",", "bom": True, "sheet": None, "header_line": 1, "data_rows": len(recs),
                       "columns": dict(tcols), "system": "POS consumption records (消费记录) keyed by member card"}
    write_service_xlsx(ctx, out_dir, svcs, truth, resend, rng, fr)


# ------------------------------------------------------------ verification --
def verify(out_dir, truth):
    """Independent re-read of the written files against truth.json (used by --selftest)."""
    import re
    from openpyxl import load_workbook
    by_file = {}
    for r in truth["rows"]:
        by_file.setdefault(r["file"], []).append(r)
    for fname, meta in truth["files"].items():
        rows = by_file.get(fname, [])
        path = os.path.join(out_dir, fname)
        if meta["format"] == "csv":
            raw = open(path, "rb").read()
            text = raw.decode(meta["encoding"])
            if meta["encoding"] == "utf-8-sig":
                assert raw.startswith(b"\xef\xbb\xbf")
            rd = csv.reader(io.StringIO(text, newline=""), delimiter=meta["delimiter"])
            hdr = next(rd)
            if meta.get("trailing_delimiter"):
                assert hdr[-1] == ""
                hdr = hdr[:-1]
            assert hdr == list(meta["columns"]), (fname, hdr)
            recs = []
            prev = rd.line_num
            for rec in rd:
                recs.append((prev + 1, rec))
                prev = rd.line_num
            key_col = 0
        else:
            wb = load_workbook(path, read_only=True)
            ws = wb[meta["sheet"]]
            allrows = list(ws.iter_rows(values_only=True))
            hl = meta["header_line"]
            assert [str(x) for x in allrows[hl - 1]] == list(meta["columns"]), fname
            recs = [(hl + 1 + i, list(r)) for i, r in enumerate(allrows[hl:])]
            key_col = 0
        assert len(recs) == len(rows) == meta["data_rows"], (fname, len(recs), len(rows), meta["data_rows"])
        for (ln, rec), tr in zip(recs, sorted(rows, key=lambda r: r["line"])):
            assert ln == tr["line"], (fname, ln, tr)
            k = rec[key_col]
            k = ("" if k is None else str(k)).strip()
            if tr["key"] is None:
                assert k == "", (fname, ln, k)
            else:
                assert k == tr["key"], (fname, ln, k, tr["key"])
        # identifier sanity on customer files
        if meta["entity"] == "customers":
            hdr = list(meta["columns"])
            for (ln, rec), tr in zip(recs, sorted(rows, key=lambda r: r["line"])):
                vals = dict(zip(hdr, rec))
                if truth["shape"] == "bank":
                    ok = bank_id_ok(vals["证件类型"], vals["证件号码"], vals["统一社会信用代码"])
                elif truth["shape"] == "custonly":
                    ok = cust_id_ok(vals["证件类型"], vals["证件号码"])
                else:
                    ok = retail_id_ok(vals["身份证号"], vals["纳税人识别号"])
                id_kinds = {"id_checksum", "uscc_checksum", "org_code_checksum", "licence_checksum",
                            "permit_format", "id_scientific", "id_type_unknown", "uscc_disagree"}
                if set(tr["defects"]) & id_kinds:
                    assert not ok, (fname, ln, tr, vals.get("证件号码"))
                else:
                    assert ok, (fname, ln, tr, vals.get("证件类型"), vals.get("证件号码"))
    return True


def _norm(s):
    if s is None:
        return ""
    if isinstance(s, float):
        return repr(s)
    s = str(s)
    s = "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in s)
    return s.strip().upper()


def _id_ok(kind, s):
    if kind in ("RID", "TMP", "HHR"):
        return resident_id_valid(s)
    if kind == "PPT":
        return bool(s) and s.isalnum()
    if kind == "HKMO":
        return hkmo_permit_valid(s)
    if kind == "TW":
        return tw_permit_valid(s)
    if kind == "PR":
        return pr_old_valid(s) or pr_new_valid(s)
    if kind == "RES":
        return hkmotw_residence_valid(s)
    if kind == "USCC":
        return uscc_valid(s)
    if kind == "ORG":
        return org_code_valid(s)
    if kind == "LIC":
        return licence15_valid(s)
    return False


BANK_KIND = {"01": "RID", "02": "TMP", "03": "HHR", "04": "PPT", "06": "HKMO", "07": "TW", "08": "PPT", "09": "PR",
             "10": "RES", "20": "USCC", "21": "ORG", "22": "LIC"}
LABEL_KIND = {"居民身份证": "RID", "身份证": "RID", "临时身份证": "TMP", "户口簿": "HHR", "护照": "PPT",
              "港澳居民来往内地通行证": "HKMO", "回乡证": "HKMO", "台湾居民来往大陆通行证": "TW", "台胞证": "TW",
              "外国人永久居留身份证": "PR", "港澳台居民居住证": "RES", "统一社会信用代码": "USCC",
              "组织机构代码": "ORG", "营业执照": "LIC"}


def bank_id_ok(code, no, ucol):
    kind = BANK_KIND.get(_norm(code))
    if not kind:
        return False
    n = _norm(no)
    if not _id_ok(kind, n):
        return False
    u = _norm(ucol)
    if u:
        if not uscc_valid(u):
            return False
        if kind == "USCC" and u != n:
            return False
    return True


def cust_id_ok(label, no):
    kind = LABEL_KIND.get(_norm(label).strip())
    kind = kind or LABEL_KIND.get(str(label).strip())
    return bool(kind) and _id_ok(kind, _norm(no))


def retail_id_ok(idv, tax):
    if isinstance(idv, (int, float)):
        return False
    i, t = _norm(idv), _norm(tax)
    return (not i or resident_id_valid(i)) and (not t or uscc_valid(t))


# --------------------------------------------------------------------- CLI --
def run_selftest():
    import tempfile
    import hashlib
    import time
    selftest_checks()
    print("check algorithms: ok (GB 11643, GB 32100, GB 11714, GS15 MOD 11,10, Luhn)")
    for shape in SHAPES:
        for resend in (False, True):
            for seed in (0, 1):
                with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
                    t0 = time.time()
                    tr = build(shape, 300, d1, seed=seed, resend=resend)
                    verify(d1, tr)
                    build(shape, 300, d2, seed=seed, resend=resend)
                    for f in sorted(os.listdir(d1)):
                        h1 = hashlib.sha256(open(os.path.join(d1, f), "rb").read()).hexdigest()
                        h2 = hashlib.sha256(open(os.path.join(d2, f), "rb").read()).hexdigest()
                        assert h1 == h2, ("not deterministic", shape, f)
                    print("%-8s seed=%d resend=%-5s rows=%6d  verified, byte-identical  (%.1fs)" % (
                        shape, seed, resend, len(tr["rows"]), time.time() - t0))
    print("selftest ok")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate a realistic branch-transfer export corpus with ground truth.")
    ap.add_argument("--shape", choices=SHAPES)
    ap.add_argument("--customers", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--resend", action="store_true")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--verify", action="store_true", help="re-read the written files against truth.json")
    a = ap.parse_args(argv)
    if a.selftest:
        run_selftest()
        return 0
    if not (a.shape and a.customers and a.out):
        ap.error("--shape, --customers and --out are required (or --selftest)")
    tr = build(a.shape, a.customers, a.out, seed=a.seed, resend=a.resend)
    if a.verify:
        verify(a.out, tr)
    print(json.dumps(tr["counts"], ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
