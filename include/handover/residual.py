"""Residual personal data in what analysts read: a second opinion that is not the masker.

The leak scan (`handover.leaks`) looks for the export's own identifiers and customer names; it cannot see a
third party — a relative, a payee, a guarantor — whom no column of the export names. The masker
(`handover.pii`) is meant to catch those in free text, and this module checks it by another method, so
that one blind spot is not both's:

- **names**: a surname from the public list of Chinese surnames (百家姓 and the compound ones) followed by
  one or two characters common in given names, standing where a person's name stands — after a word that
  introduces a person (客户, 家属, 经办人, 收款人, 转给 …) or before one that follows a person (说, 来电, 称,
  到网点 …), or inside a list of names (、);
- **phones**: a run of digits (spaces and dashes inside allowed) that is a mainland mobile (1[3-9] and nine
  more digits), a landline with its area code (0 + 2–3 digits, then 7–8), or a 7–8 digit local number right
  after 电话 / 座机 / 固话 / tel;
- **identifiers**: an 18-character resident ID whose check character is right, a 16–19 digit card that
  passes Luhn, an e-mail address.

It never sees the masker's tags (``<姓名>``) or tokens (``tok_…``), and reports counts only — per column, per
kind, with the places of the first few rows — never a value. Its names are suspicions: an ordinary word can
look like a name (高明, 方正). That is why the verdict is a rate against a threshold, not a single hit.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from handover import phones

# The surnames of 百家姓 and modern frequency lists (Ministry of Public Security 2020: the top 400 cover
# 97 % of the population), single characters; and the compound surnames still in use.
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施"
    "文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷"
    "盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷"
    "晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆"
    "乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴丰支卿国狄平"
    "计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸战慕危玉银亢嵇公"
    "哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由仉郗蒯訾笪钭禚隗厍佴乜"
)
COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "皇甫", "东方", "慕容", "尉迟", "令狐", "长孙", "宇文", "夏侯", "端木", "公孙",
    "呼延", "澹台", "百里", "南宫", "西门", "司徒", "司空", "轩辕", "独孤", "万俟", "闻人", "申屠", "公羊", "东郭",
    "钟离", "宗政", "濮阳", "淳于", "单于", "太叔", "仲孙", "赫连", "拓跋", "第五", "左丘", "谷梁", "梁丘", "羊舌",
})
# Characters common in given names (the 2020 name statistics' most frequent, and their usual companions).
GIVEN = frozenset(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红玉梅文辉林鹏飞宇浩然欣怡婷雪琳晨阳轩子涵梓萱诗雨"
    "思彤佳琪嘉欢志鑫海波俊峰斌宏亮晓燕春燕丹凤霖昊天博睿哲瑞泽瀚铭轩逸凯翔宁康健永福德荣贵生祥庆利民全兴旺云"
    "莉倩颖琴慧敏媛蓉萍芬菲薇蕾璐瑶婧妍姗珊婉蓓馨悦月美娇秋冬晶鸿毅锋刚宾彬军坤乾凡帆航远达成功龙虎豹鹰松柏桦"
    "楠枫森淼鑫钰铮锐磊岩峻崇山川江河湖海洪波涛清源泉溪水冰雪霜露晴阳光明辉耀灿烁炜烨煜焕燃炎金银铜铁钢锦绣"
    "彩霓虹紫蓝青绿翠碧琼瑾瑜璇玲珑琦琨珏瑛瑷璟玮珍宝贝珠婕妤嫣娅婵娥姣娴婷姿媚妙姝婕莹萌茜芸芷茵荷莲萱蔓蕊"
    "苗苑蓓薇蔚鹤鸣凤凰燕鹃鹂莺雁鸽振兆庭廷延彦颜炎言信诚谦逊让礼义仁智勇忠孝廉耻淑贤惠慈爱恩情怀念想思"
    "家国安邦定宸宜宣容寒宵宽寿尧舜禹汤武斌彬杉桐桥梁栋材杨柳槐樟楷模范程序进步升腾飞跃奔驰骏驹骥骁"
)
# Words that introduce a person, and words that follow one.
BEFORE = ("客户", "家属", "配偶", "丈夫", "妻子", "儿子", "女儿", "父亲", "母亲", "其母", "其父", "其子", "其女",
          "经办人", "代办人", "代理人", "联系人", "紧急联系人", "收款人", "收件人", "付款人", "受益人", "投保人",
          "被保险人", "担保人", "保证人", "推荐人", "介绍人", "投诉人", "来电人", "户主", "法人", "法定代表人",
          "转给", "转账给", "汇给", "交给", "还给", "借给", "付给", "代", "由", "给", "联系", "推荐了新客户",
          "推荐", "姓名", "名为", "叫", "员工", "柜员", "经理", "同事", "邻居", "朋友", "同学", "亲戚")
AFTER = ("说", "称", "来电", "致电", "到网点", "到店", "来行", "来店", "办理", "本人", "先生", "女士", "反映",
         "表示", "要求", "申请", "签字", "确认", "同意", "陪同", "代办", "的", "名下", "账户", "（", "(", "、",
         "，", "。", "；", "：", ",", " ")
# Ordinary words that start with a surname and a given-name character: never taken for a name.
WORDS = frozenset(word for line in (
    "高兴 高明 高速 高达 高级 高端 方便 方正 方法 方面 金额 金融 金卡 常规",
    "常年 程序 周末 周期 王府 李子 江湖 黄金 石头 林业 马上 陈旧 陈列 许多",
    "于是 万一 向来 毛病 钱包 孔雀 房东 花园 叶子 段落 白天 明天 明白 明年",
    "明细 文明 文件 安全 安静 安排 康复 温和 平安 平时 宁静 成功 成绩 成年",
    "华丽 雷同 龙凤 云南 江西 海南 山东 武汉 南京 都是 都会 时间 时候 谈话",
    "谈判 连续 连忙 关于 关系 关心 管理 申请 单位 任何 左右 应该 全部 全国",
    "和平 信用 信息 信心 相关 相信 计划 解决 解释 包括 包含 余额 杜绝 潘多",
    "史上 易于 齐全 强调 牛市 章程 严格 严重 米粒 桑拿 燕麦 戴上 邓小 梁上",
    "宋体 唐朝 韩国 曾经 彭湃 田园 董事 苏州 洪水 秦岭 封面 卓越 古代 吉利",
    "车辆 项目 连同 路口 游客 辛苦 管道 柴油 蒙古 华为 房产 尤其 阳光 时时",
    "农业 司机 简单 车主 党员 景点 费用 冷静 席位 卫生 米饭 柏油 宗教 桂花",
    "全额 应用 边境 师傅 商户 荣誉 郎中 仲裁 明确 官方 封顶 惠及 乐意 原因",
    "原来 劳务 皮肤 楼上 盘点 满意 闻到 位置 伊始 海外 花费 权益 强制 帅气",
    "祖国 巴士 丰富 支付 国家 平台 计算 宣传 晋升 相比 初步 门口 云端 容易",
    "敬请 来电 来访 浦东 母亲 修改 杭州 况且 那边 宿舍 鲜花 印章 隆重 诸位",
    "战略 危险 玉米 银行 哈尔 宾馆 茅台 利息 利率 居住 揭示 干净 但是 元旦",
    "衣服 信托 展示 展期 幸运 奉献 富裕 由于",
) for word in line.split())
TAGGED = re.compile(r"<[^<>]{1,12}>|tok_[0-9a-f]{16}")
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[\s-]?)?[0-9](?:[0-9]|[\s-](?=[0-9])){6,22}[Xx]?(?![0-9A-Za-z])")
_LOCAL_AFTER = re.compile(r"(?:电话|座机|固话|联系电话|tel|TEL|Tel)[：:\s]*([0-9]{7,8})(?![0-9])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _resident_id(digits: str) -> bool:
    if len(digits) != 18 or not digits[:17].isdigit():
        return False
    return "10X98765432"[sum(int(c) * w for c, w in zip(digits, _ID_WEIGHTS, strict=False)) % 11] == digits[17]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _phone_or_id(run: str) -> str | None:
    digits = re.sub(r"[^0-9X]", "", run.upper())
    if phones.is_mobile(phones.national(digits)):
        return "phone"
    if digits[0] == "0" and 10 <= len(digits) <= 12 and digits[1] != "0":
        return "phone"
    if len(digits) == 18 and _resident_id(digits):
        return "identifier"
    if 16 <= len(digits) <= 19 and digits.isdigit() and digits.startswith(("62", "4", "5", "3")) and _luhn(digits):
        return "identifier"
    return None


def _names(text: str) -> int:
    """Suspected full names: a surname and one or two given-name characters, where a name stands."""
    found = 0
    i, n = 0, len(text)
    while i < n:
        two = text[i:i + 2]
        start = None
        if two in COMPOUND_SURNAMES:
            start = i + 2
        elif text[i] in SURNAMES:
            start = i + 1
        if start is None or start >= n or text[start] not in GIVEN:
            i += 1
            continue
        if text[i:start + 1] in WORDS or text[i:start + 2] in WORDS:
            i += 1
            continue
        length = 2 if start + 1 < n and text[start + 1] in GIVEN else 1
        end = start + length
        before = text[max(0, i - 6):i]
        after = text[end:end + 3]
        # strong: a word that introduces a person right before it, or a list of names (、)
        strong = any(before.endswith(w) for w in BEFORE) or before.endswith("、") or after.startswith("、")
        # weak: where a sentence or clause starts, and followed by what follows a person
        weak = (i == 0 or before.endswith(("，", "。", "：", ":", " ", "；"))) and (
            end == n or any(after.startswith(w) for w in AFTER))
        if strong or (weak and (two in COMPOUND_SURNAMES or length == 2)):
            found += 1
            i = end
            continue
        i += 1
    return found


def suspicions(text: str | None) -> Counter:
    """How many suspected names, phones and identifiers a text holds (the masker's tags and tokens aside)."""
    out: Counter = Counter()
    if not text:
        return out
    clean = TAGGED.sub("\u3000", text)
    for m in _DIGIT_RUN.finditer(clean):
        kind = _phone_or_id(m.group())
        if kind:
            out[kind] += 1
    out["phone"] += len(_LOCAL_AFTER.findall(clean))
    out["identifier"] += len(_EMAIL.findall(clean))
    if _CJK.search(clean):
        out["name"] += _names(clean)
    return +out


# The rate of values with a suspected residual datum above which a column fails the run (per kind):
# phones and identifiers have a grammar and a checksum, a false alarm is rare; a suspected name is a guess.
THRESHOLDS = {"phone": 0.002, "identifier": 0.001, "name": 0.01}
MIN_VALUES = 200  # below this, a column is judged by its count (as if it had this many values; at least 2)


@dataclass
class ColumnVerdict:
    place: str
    values: int = 0
    suspected: Counter = field(default_factory=Counter)  # kind → values with at least one
    examples: list[str] = field(default_factory=list)  # where (row places), never what

    def over(self, thresholds: dict[str, float] = THRESHOLDS) -> dict[str, float]:
        """The kinds whose rate is over their threshold, with the rate."""
        out = {}
        for kind, n in self.suspected.items():
            if self.values >= MIN_VALUES:
                if n / self.values > thresholds[kind]:
                    out[kind] = n / self.values
            elif n > max(1, thresholds[kind] * MIN_VALUES):
                out[kind] = n / max(self.values, 1)
        return out


def judge(values, place: str, where=None, thresholds: dict[str, float] = THRESHOLDS) -> ColumnVerdict:
    """Every value of one column (an iterable of text); ``where(i)`` names the i-th value's row for the
    examples."""
    verdict = ColumnVerdict(place)
    for i, value in enumerate(values):
        if value is None:
            continue
        verdict.values += 1
        found = suspicions(value)
        for kind in found:
            verdict.suspected[kind] += 1
        if found and len(verdict.examples) < 5:
            verdict.examples.append(where(i) if where else f"value {i + 1}")
    return verdict
