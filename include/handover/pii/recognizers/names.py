"""PERSON: names that nobody listed — relatives, payees, agents, staff — found by the words around them.

The branch's customers are on its deny list (:class:`~handover.pii.recognizers.person.CustomerNameRecognizer`);
the names that leak are the others. Staff write them in a few ways, and those ways are the rules here:

- after a role or relation word: 经办人 / 收件人 / 家属 / 其父 / 儿子 / 房东 / 推荐了新客户 / 投诉： …;
- after a word that takes a person: 转给 / 还 / 付 / 代 / 叫 / 自称 / 给 …, and in payment memos
  after or before what the money is for (学费 / 房租 / 货款 …: ``学费 亓子涵 三年二班``, ``房租禚建华6月份``);
- opening a note or a clause (also after a space or a dash) and followed by a verb, a title, a role,
  punctuation or the end (``胡文海说…``, ``…来电``, ``…到网点``, ``代发 笪秀梅 绩效``).

A candidate is a surname — one of the 百家姓's single and compound surnames (欧阳, 司马, 上官 …, the
pairs at its end read as two single surnames), modern ones it lacks (覃, 闫, 冼, 禚, 朴, 芦 …) and the
Xianbei and Manchu compounds still in use (独孤, 完颜, 爱新觉罗 …) — and one or two given characters; the
given name's length is the one after which the text reads on, else two. It is a word, not a name, where
jieba's dictionary knows it (周末, 金额) or its surname and first character (高兴地, 谢谢, 黄金周: frequency
300 or more, 1,000 after a role word; time words, numerals, adverbs and the like always), unless a naming
word (叫, 户名, 收款人 …) stands right before it; a surname with a title after it (王先生) or 老/小/阿
before it (老王) is a form of address.

Where the rules cannot settle a candidate, it is *open*, for the statistical model
(:mod:`handover.pii.recognizers.name_model`) to settle: a surname character that is mostly an ordinary
word (和, 于, 明, 高, 方 …) without a role word or a verb to hold it, a candidate glued to the text before
it, one after 的, and a name without a surname we know after a role word (担保人朝鲁, 女儿其木格, 收款人佐藤美咲).

Names written with ``·`` (阿依古丽·买买提, 爱新觉罗·启明) are names wherever they stand. Tibetan,
Mongolian, Yi and Uyghur names are built from a stock of elements (次仁多吉, 乌兰图雅, 吉克阿依): two
elements, or one of three characters, are a name. Latin-script names (收款人 Emily Gu, TO ZHANG WEIMIN,
wang xiaoyu) are a capitalised pair after a role word, or a pinyin surname and given name.

The word lists are ours, made from the roles a bank's forms and service logs name and from the brief of
issue 14 (role words, 代…转交…给, 推荐了新客户); the surnames from the 百家姓 and the Ministry of Public
Security's surname rankings; the name elements from public naming guides; none from the evaluation notes.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import ahocorasick
import regex as re
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from handover.pii.patterns import word_list
from handover.pii.recognizers import name_model
from handover.pii.recognizers.person import ENTITY, TITLES, person_result

# 百家姓, the single surnames (鬱 and 卻 in their simplified forms 郁, 却)
_BAIJIAXING = (
    "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛奚范彭郎鲁韦昌马苗凤花方"
    "俞任袁柳酆鲍史唐费廉岑薛雷贺倪汤滕殷罗毕郝邬安常乐于时傅皮卞齐康伍余元卜顾孟平黄和穆萧尹姚邵湛汪祁毛禹狄米贝明臧"
    "计伏成戴谈宋茅庞熊纪舒屈项祝董梁杜阮蓝闵席季麻强贾路娄危江童颜郭梅盛林刁钟徐邱骆高夏蔡田樊胡凌霍虞万支柯昝管卢莫"
    "经房裘缪干解应宗丁宣贲邓郁单杭洪包诸左石崔吉钮龚程嵇邢滑裴陆荣翁荀羊於惠甄曲家封芮羿储靳汲邴糜松井段富巫乌焦巴弓"
    "牧隗山谷车侯宓蓬全郗班仰秋仲伊宫宁仇栾暴甘钭厉戎祖武符刘景詹束龙叶幸司韶郜黎蓟薄印宿白怀蒲邰从鄂索咸籍赖卓蔺屠蒙"
    "池乔阴郁胥能苍双闻莘党翟谭贡劳逄姬申扶堵冉宰郦雍却璩桑桂濮牛寿通边扈燕冀郏浦尚农温别庄晏柴瞿阎充慕连茹习宦艾鱼容"
    "向古易慎戈廖庾终暨居衡步都耿满弘匡国文寇广禄阙东欧殳沃利蔚越夔隆师巩厍聂晁勾敖融冷訾辛阚那简饶空曾毋沙乜养鞠须丰"
    "巢关蒯相查后荆红游竺权逯盖益桓公"
    # the pairs at the end of the 百家姓 (仉督 晋楚 闫法 …) are two single surnames each
    "仉督晋楚闫法汝鄢涂钦岳帅缑亢况郈有琴商牟佘佴伯赏墨哈谯笪年爱阳佟言福"
)
# common today, missing from the 百家姓 (or there in a traditional form): the Ministry of Public Security's
# rankings and regional surnames (冼 and 邝 in Guangdong, 禚 and 亓 in Shandong, 覃 in Guangxi,
# 朴 of the Korean)
_MODERN = "肖闫付覃邝冼禚亓揭练粟庹母么蹇谌迟占代呙檀琚朴芦"
SURNAMES = frozenset(_BAIJIAXING + _MODERN)
COMPOUND_SURNAMES = frozenset(
    word_list(
        "万俟 司马 上官 欧阳 夏侯 诸葛 闻人 东方 赫连 皇甫 尉迟 公羊 澹台 公冶 宗政 濮阳 淳于 单于 太叔 申屠 公孙 仲孙 "
        "轩辕 令狐 钟离 宇文 长孙 慕容 鲜于 闾丘 司徒 司空 亓官 司寇 子车 颛孙 端木 巫马 公西 漆雕 乐正 壤驷 公良 拓跋 "
        "夹谷 宰父 谷梁 段干 百里 东郭 南门 呼延 归海 羊舌 微生 梁丘 左丘 东门 西门 商牟 南宫 第五 "
        # not in the 百家姓: the Xianbei and Manchu compound surnames still in use
        "独孤 贺兰 斛律 完颜 纳兰 耶律 钮祜禄 爱新觉罗 叶赫那拉"
    )
)
# surname characters that are mostly ordinary words or function characters: as a surname they need a role
# word before them or a verb, title or punctuation after them
WEAK_SURNAMES = frozenset(
    "和于时万明向文高方常金马安成平能双国东后红空通都那相查广从印步居满利越益公乐元水云花山车全秋司白申边别连容古易终"
    "师冷简沙养须关有法爱年福言商第包诸左石解应单干经支席强路江童盛钟夏田华章费齐康余计舒项祝蓝牛寿农温习鱼慎戈衡弘禄"
    "隆融丰巢荆游权盖桓家宁井富全班仰伊宫甘符景叶幸宿怀从索籍池阴能苍党扶宰通燕尚庄晏充慕茹宦暨满匡寇东欧沃蔚越师勾敖"
    "辛那空毋须后竺督楚琴帅伯赏墨哈年阳代占么母练粟揭"
)

# Words after which a person is named: roles, relations, and the verbs and prepositions that take a person.
ROLE_WORDS = word_list(
    "客户 新客户 老客户 本行客户 跟进人 患儿 患者家属 来电人 来访人 来人 访客 投诉人 举报人 申请人 当事人 联系人 紧急联系人 经办人 代办人 "
    "代理人 委托人 受托人 被委托人 授权人 被授权人 担保人 保证人 共同借款人 借款人 出借人 债务人 债权人 还款人 持卡人 开户人 "
    "户主 户名 账户名 对方户名 收款人 收款方 付款人 付款方 汇款人 收件人 寄件人 取件人 代取人 签收人 投保人 被保险人 "
    "受益人 推荐人 被推荐人 介绍人 继承人 监护人 法定代表人 法人 负责人 股东 卖方 卖家 买方 买家 房东 租客 业主 住户 "
    "用户 会员 储户 患者 病人 学生 家长 孩子 小孩 老人 老伴 老伴儿 "
    "家属 配偶 丈夫 妻子 老公 老婆 爱人 前夫 前妻 男友 女友 男朋友 女朋友 未婚夫 未婚妻 儿子 女儿 子女 闺女 父亲 母亲 "
    "爸爸 妈妈 父母 其父 其母 其妻 其夫 其子 其女 其兄 其弟 其姐 其妹 长子 次子 长女 次女 哥哥 姐姐 弟弟 妹妹 我哥 我弟 "
    "我姐 我妹 我爸 我妈 我儿子 我女儿 我老公 我老婆 兄长 爷爷 奶奶 外公 外婆 姥姥 姥爷 孙子 孙女 外孙 外孙女 公公 婆婆 "
    "岳父 岳母 女婿 儿媳 媳妇 嫂子 姐夫 妹夫 弟媳 侄子 侄女 外甥 外甥女 舅舅 舅妈 姑姑 姑父 叔叔 婶婶 伯伯 表哥 表姐 表弟 "
    "表妹 堂哥 堂姐 堂弟 堂妹 干妈 干爹 二姨 大姨 小姨 亲戚 朋友 同事 同学 室友 邻居 老乡 同乡 闺蜜 兄弟 姐妹 老板 "
    "员工 柜员 大堂经理 客户经理 理财经理 经理 主任 主管 行长 营业员 工作人员 社区工作人员 销售人员 催收员 医生 护士 "
    "律师 民警 警官 快递员 骑手 司机 维修工 装维 师傅 保安 保姆 月嫂 翻译 中介 主播 卖主 泥工 木工 包工头 老师 人事 客服 合伙人 顾客 租户 媳妇儿 我妈 我爸 前男友 前女友 独生女 独生子 成员 "
    "叫 名叫 叫做 名为 名字 姓名 自称 是 我是 他是 她是 给 转给 转 还 还给 付 付给 借 借给 代 替 帮 交给 汇给 汇往 寄给 "
    "转交 转交给 陪同 联系 致电 回拨 通知 问 找 收 和 与 及 同 跟 由 对 向 让 请 谢谢 感谢 表扬 投诉 推荐 推荐了 介绍 "
    "接待 拜访 委托 授权 致 to TO by 组长 对象 人员 改为 变更为 更换为 换成 改成 设为 指定 写明 填写 写 填 为"
)
# Compound surnames that are also common words (东方明珠, 长孙 the eldest grandson, 百里之外): as others'
# single surnames, they need the words around them
WORD_LIKE_COMPOUNDS = frozenset(word_list("东方 南门 东门 西门 百里 第五 长孙 单于 公孙 司空 乐正 子车 公良 归海 夹谷"))
# Tibetan, Mongolian and Yi names are built from a stock of name elements, none of them a surname
# (次仁多吉 = 次仁 + 多吉, 乌兰图雅, 吉克阿依); the common elements as public naming guides list them.
NAME_ELEMENTS = frozenset(
    word_list(
        # Tibetan
        "扎西 次仁 多吉 白玛 达瓦 尼玛 拉姆 卓玛 索朗 丹增 罗布 诺布 平措 旺堆 顿珠 格桑 央金 巴桑 米玛 边巴 拉巴 普布 "
        "措姆 德吉 曲珍 洛桑 强巴 益西 嘉措 加措 贡嘎 次旺 卓嘎 次旦 梅朵 德庆 旦增 仁增 才让 拉珍 玉珍 白珍 央宗 "
        "旺姆 次珍 琼达 曲扎 斯朗 仁青 群培 桑布 永珍 "
        # Mongolian
        "巴特尔 乌兰 其其格 娜仁 图雅 哈斯 巴根 莫日根 那日苏 乌云 阿木古楞 朝鲁 其木格 巴雅尔 图门 乌日娜 苏和 "
        "额尔敦 宝音 孟和 巴图 呼和 斯琴 萨仁 高娃 格日勒 敖登 乌力吉 布和 毕力格 阿拉坦 特木尔 铁木尔 那顺 赛罕 "
        "白音 宝力道 吉日格勒 满都拉 "
        # Yi (family names first: 吉克, 阿苏 …) and Uyghur names written without the dot
        "吉克 阿苏 沙马 曲比 吉伍 海来 马海 阿尔 俄木 阿说 阿依 阿呷 木呷 阿果 "
        "买买提 阿不都 艾力 古丽 阿依古丽 热依拉 努尔 吐尔逊 艾合买提 阿迪力 阿力木 米热 玛依拉 艾尔肯 帕丽达 热合曼"
    )
)
# After these only the model can say whether a name follows (的闻人杰: of whom)
LIGHT_WORDS = frozenset("的")
# Of those, the ones that name: after them even an ordinary word is a name (户名高峰, 叫高峰的人).
NAMING_WORDS = frozenset(
    word_list("叫 名叫 叫做 名为 名字 姓名 自称 户名 账户名 对方户名 收款人 收款方 付款人 汇款人 收件人 寄件人 受益人 担保人")
)
# What payments are for, in memos: a name stands before or after them (学费 亓子涵, 房租禚建华6月份).
PURPOSE_WORDS = word_list(
    "学费 学杂费 房租 租金 货款 工资 借款 还款 欠款 定金 订金 尾款 押金 生活费 医药费 住宿费 托管费 补习费 补课费 培训费 "
    "报名费 运费 工钱 工程款 装修款 稿费 红包 礼金 份子钱 压岁钱 车费 油费 话费 电费 水电费 物业费 会费 班费 代购 代缴 "
    "代收 代付 代发 代收代付 退款 转账 转帐 微信转账 支付宝转账 备注 附言 摘要 用途 工资卡 奖金 绩效 分红 报销 垫款 "
    "垫付款"
)
# What follows a name and shows where it ends: verbs, titles, roles, particles.
FOLLOW_WORDS = word_list(
    "说 称 讲 表示 反映 来电 来 到 去 在 已 要 想 让 把 被 将 会 能 可 需 要求 申请 办理 咨询 询问 投诉 同意 签字 确认 "
    "陪同 代 代为 帮 替 拿 借 还 转 付 收 汇 寄 取 存 买 购买 开户 开卡 挂失 领取 查询 提供 不 没 未 也 又 就 都 和 与 "
    "及 或 为 是 于 对 向 给 跟 同 因 从 今天 昨天 上午 下午 本人 先生 女士 小姐 老师 同学 阿姨 师傅 经理 总 等 夫妇 "
    "一家 两位 两人 的 之 这 那 再 处 名下 账户 卡 手机 电话 身份证 证件 护照 持 携 带 拒 接 打 "
    "老人 儿子 女儿 父亲 母亲 丈夫 妻子 之妻 之夫 之子 之女 哥哥 姐姐 弟弟 妹妹 同事 朋友 律师 主播 老板 "
    "岁 第 本息 归还 还清 结清 报名 奖学金 修车 补胎"
)
# characters that never end or fill a given name (particles, pronouns, function words, measure words)
NOT_GIVEN = frozenset(
    "的了吗呢吧啊呀哦嘛么和与及或在是说称到去把被给让向从对于为这那哪谁什怎我你他她它们个些每各某其之所而且但并就都也"
    "又还再才很太最更已未没不要想会能应该需请叫号卡款费钱万年时分秒点次张份笔位名户等"
)

_HAN = r"[\u4e00-\u9fff]"
_DOT_NAME = re.compile(r"[\u4e00-\u9fff]{1,8}(?:[·•][\u4e00-\u9fff]{1,8})+")
_DOT_NAME_STOPS = frozenset("的说称和与在已给")  # one-character words that end a name with · (买, 都 may not)
_EDGE = re.compile(r"[\s\p{P}\p{S}0-9A-Za-z]")
_HAN_CHAR = re.compile(_HAN)
_MAX_WORD = max(len(w) for w in (*ROLE_WORDS, *PURPOSE_WORDS, *FOLLOW_WORDS))
_ROLES = frozenset(ROLE_WORDS)
_PURPOSES = frozenset(PURPOSE_WORDS)
_FOLLOWS = frozenset(FOLLOW_WORDS) | _PURPOSES | frozenset("货钱款费")
_BEFORE = _ROLES | _PURPOSES | LIGHT_WORDS
# a title right after a surname is a form of address (王先生, 张经理), not a given name
_TITLES = frozenset(TITLES) | frozenset(word_list("总 哥 姐 老板 师傅 律师 医生 护士 阿姨 叔叔 大爷 大妈 某 某某 姓 氏"))
# a surname with 老/小 or a title: a form of address, not a name (老王, 小李, 周女士, 王先生)
_ADDRESSED = re.compile(
    "[老小][" + "".join(sorted(SURNAMES)) + "]|" + "|".join(sorted(_TITLES, key=len, reverse=True)) + "|姓"
)
# a surname and a first given character that make a common word (谢谢, 黄金, 和平, 马上): not a name
# where candidates start: a surname's first character (compound surnames longest first)
_SURNAME_FIRST = SURNAMES | {w[0] for w in COMPOUND_SURNAMES}
_COMPOUND_LENGTHS = sorted({len(w) for w in COMPOUND_SURNAMES}, reverse=True)
_SURNAME_FIRST_CHAR = re.compile("[" + "".join(sorted(_SURNAME_FIRST)) + "]")

# Latin script: a pinyin syllable table (initials × finals that occur), for names written in pinyin
_INITIALS = ("", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "zh", "ch", "sh", "r",
             "z", "c", "s", "y", "w")  # fmt: skip
_FINALS = word_list(
    "a o e ai ei ao ou an en ang eng ong er i ia ie iao iu ian in iang ing iong u ua uo uai ui uan un uang ueng "
    "v ve van vn ue"
)
PINYIN_SURNAMES = frozenset(
    word_list(
        "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie song tang "
        "han feng deng cao peng zeng xiao tian dong yuan pan yu jiang cai du ye cheng su wei lv lu ding ren shen yao "
        "cui zhong tan wan qin qiu jin bai fan fang shi mo kong mao hou long duan lei qian tao gu meng xue yan dai "
        "kang niu qiao ou ni hong ji zou dou tong bao geng nie mu jia ge xing fu an lan yin shao qi szeto dongfang "
        "ouyang sima shangguan zhuge murong situ"
    )
)
_LATIN_WORD = r"[A-Z][a-z]{1,12}|[A-Z]{2,12}"
_LATIN_PAIR = re.compile(rf"(?<![A-Za-z])(?:{_LATIN_WORD})(?: (?:{_LATIN_WORD})){{1,2}}(?![A-Za-z])")
_LATIN_ROLES = ("beneficiary", "payee", "son", "daughter", "wife", "husband", "rm", "seller", "buyer", "to", "ref",
                "by", "for", "mr", "ms", "mrs")  # fmt: skip
_LATIN_FUNCTION_WORDS = frozenset(("to", "by", "for", "ref", "of", "and", "with", "the", "from", "transfer", "payment"))
_PINYIN_PAIR = re.compile(r"(?<![A-Za-z])([A-Za-z]{1,9}) ([A-Za-z]{1,12})(?![A-Za-z])")


@lru_cache(maxsize=1)
def _syllables() -> frozenset[str]:
    return frozenset(i + f for i in _INITIALS for f in _FINALS if i + f)


def is_pinyin(word: str) -> bool:
    """Whether ``word`` splits into pinyin syllables (``xiaoyu`` → xiao yu)."""
    word, syllables = word.lower(), _syllables()
    reach = [True] + [False] * len(word)
    for end in range(1, len(word) + 1):
        reach[end] = any(reach[start] and word[start:end] in syllables for start in range(max(0, end - 6), end))
    return reach[-1]


COMMON_WORD = 300  # jieba's frequency above which a surname + one character is a word, not a name
NAME_AS_WORD = 30  # a dictionary "word" of three characters or more that is rarer than this is a name
VERY_COMMON_WORD = 1000  # … even after a role word (客户车辆: 车辆 > 1000, 高兴 5387; 丈夫蓝天翔: 蓝天 < 300)
# parts of speech that never start a name: time words (周一, 明天), numerals, measure words, locality words,
# adverbs, prepositions, conjunctions, pronouns, particles (jieba's tags)
_NEVER_NAMES = frozenset(("t", "tg", "m", "mq", "q", "f", "d", "p", "c", "r", "u", "ul", "uj", "uz", "ud", "ug", "uv"))


@lru_cache(maxsize=1)
def _ordinary_words() -> dict[str, int]:
    """jieba's dictionary words of 2–4 characters that are not names (names are tagged ``nr…``), with
    their frequency."""
    import jieba
    import jieba.posseg

    jieba.initialize()
    frequency = jieba.dt.FREQ
    return {
        # a word of a part of speech that never starts a name counts as very common
        w: max(frequency.get(w, 0), VERY_COMMON_WORD if t in _NEVER_NAMES else 0)
        for w, t in jieba.posseg.dt.word_tag_tab.items()
        if 2 <= len(w) <= 4 and not t.startswith("nr") and frequency.get(w, 0) >= 3
    }


def _made_of_words(text: str, words: dict[str, int]) -> bool:
    """Whether ``text`` is dictionary words of two characters or more, end to end (大额 + 取现)."""
    reach = [True] + [False] * len(text)
    for end in range(2, len(text) + 1):
        reach[end] = any(reach[start] and text[start:end] in words for start in range(max(0, end - 4), end - 1))
    return reach[-1]


def _ends_with(text: str, end: int, words: frozenset[str]) -> str:
    """The longest of ``words`` that ends at ``end`` (``""``: none)."""
    for length in range(min(_MAX_WORD, end), 0, -1):
        if text[end - length : end] in words:
            return text[end - length : end]
    return ""


def _edge(text: str, position: int) -> bool:
    """Whether ``position`` (a character index, or the text's end) is where a word must end: the text's
    end or start, punctuation, a space, a digit, a Latin letter."""
    if position < 0 or position >= len(text):
        return True
    char = text[position]
    edge = _EDGES.get(char)
    if edge is None:
        edge = _EDGES[char] = _EDGE.match(char) is not None
    return edge


_EDGES: dict[str, bool] = {}  # per character, as _EDGE says


class NameRecognizer(EntityRecognizer):
    """Names of people nobody listed, by the words around them (see the module's docstring)."""

    SURE = 0.6  # a role word before it, or a name with ·
    LIKELY = 0.5  # opening a clause and followed by a verb, title or punctuation
    OPEN = 0.3  # the rules cannot settle it: below the threshold unless a context word or the model agrees

    def __init__(self) -> None:
        # no context words: every name it reports already scores over the threshold (the role words
        # before a name are the rules' own), so the enhancer could only move a score, never a finding
        super().__init__(supported_entities=[ENTITY], name="NameRecognizer", supported_language="zh")
        self._prepared: dict[str, tuple[list, list]] = {}  # text → its candidates, those still open
        self._clauses: dict[str, tuple[tuple[int, int, float, str], ...]] = {}
        self._customers: EntityRecognizer | None = None

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [person_result(self, *span) for span in self.found(text)]

    def found(self, text: str) -> list[tuple[int, int, float, str]]:
        """What :meth:`spans` finds, the open candidates settled by the model: each one the model reads
        as a name (also in part) is reported, widened to the model's name where that is longer; the
        others are not."""
        prepared = self._prepared.pop(text, None)
        spans, candidates = prepared if prepared is not None else self._open(text)
        sure = [s for s in spans if s[2] >= self.LIKELY]
        if not candidates or not name_model.available():
            return sure
        windows = [_window(text, s, e) for s, e, _, _ in candidates]
        for (start, end, _, how), (at, window), persons in zip(
            candidates, windows, name_model.person_spans([w for _, w in windows]), strict=True
        ):
            hits = [(at + a, at + b) for a, b in persons if at + a < end and start < at + b]
            if hits:
                # the model's name where it is longer, by two characters at most (郎志|远)
                first = max(start - _WIDEN, min([start] + [a for a, _ in hits]))
                if first < start and text[first] not in _SURNAME_FIRST:
                    first = start  # to the left only for a surname (长孙|志强), not a role word's end (联系人)
                last = min(end + _WIDEN, max([end] + [b for _, b in hits]))
                while first < start and not _HAN_CHAR.match(text[first]):  # Chinese characters only
                    first += 1
                while last > end and not _HAN_CHAR.match(text[last - 1]):
                    last -= 1
                sure.append((first, last, self.LIKELY, f"{how}, the model agrees"))
        return sure

    def know(self, customers: EntityRecognizer) -> None:
        """The branch's customer names (their recognizer): an open candidate inside one needs no model."""
        self._customers = customers

    def _open(self, text: str) -> tuple[list[tuple[int, int, float, str]], list[tuple[int, int, float, str]]]:
        """The candidates, and those still open: not covered by a sure one or a customer's name."""
        spans = self.spans(text)
        if not any(score < self.LIKELY for _, _, score, _ in spans):
            return spans, []
        known = (
            [(r.start, r.end) for r in self._customers.analyze(text, self._customers.supported_entities)]
            if self._customers is not None
            else []
        )
        return spans, _still_open(spans, known)

    def forget(self) -> None:
        """Drop what was remembered (clauses read, candidates prepared)."""
        self._prepared.clear()
        self._clauses.clear()

    def prepare(self, texts: Iterable[str]) -> None:
        """Find the candidates of many texts at once and settle the open ones in the model's batches
        (what :meth:`found` then asks of the model is remembered)."""
        if len(self._prepared) > 10_000:
            self._prepared.clear()
        windows = []
        for text in texts:
            _, candidates = self._prepared[text] = self._open(text)
            windows.extend(_window(text, s, e)[1] for s, e, _, _ in candidates)
        if windows and name_model.available():
            name_model.person_spans(windows)

    def spans(self, text: str) -> list[tuple[int, int, float, str]]:
        """``(start, end, score, how)`` of each name candidate in ``text`` (overlaps left to the analyzer).
        No rule looks across a clause's punctuation, so each clause is read on its own, and what a clause
        yields is remembered (staff repeat their phrases; a note's other clauses need not). No rule asks
        which digits a number has, only that they are digits: a clause is remembered with each run of
        digits as one ``0`` (回拨13812345678无人接听 and 回拨13998765432无人接听 are read once)."""
        spans: list[tuple[int, int, float, str]] = []
        at = 0
        for piece in _CLAUSE.split(text):
            if piece:
                key, where = _without_numbers(piece)
                found = self._clauses.get(key)
                if found is None:
                    if len(self._clauses) >= _CLAUSE_CACHE:
                        self._clauses.clear()
                    found = self._clauses[key] = tuple(self._clause_spans(key))
                if where is None:
                    spans.extend((at + s, at + e, score, how) for s, e, score, how in found)
                else:
                    spans.extend((at + where[s], at + where[e - 1] + 1, score, how) for s, e, score, how in found)
            at += len(piece)
        return spans

    def _clause_spans(self, text: str) -> list[tuple[int, int, float, str]]:
        index = _Index(text)
        spans = (
            [(*self._dot_name(text, index, m), self.SURE, "name with ·") for m in _DOT_NAME.finditer(text)]
            if "·" in text or "•" in text
            else []
        )
        spans.extend((s, e, self.SURE, "minority name elements") for s, e in index.element_runs())
        taken = [(s, e) for s, e, _, _ in spans]
        for match in _SURNAME_FIRST_CHAR.finditer(text):
            start, char = match.start(), match.group()
            if any(s <= start < e for s, e in taken):
                continue
            surname = next((n for n in _COMPOUND_LENGTHS if text[start : start + n] in COMPOUND_SURNAMES), 1)
            if surname == 1 and char not in SURNAMES:
                continue
            found = self._candidate(text, index, start, surname)
            if found is not None:
                spans.append(found)
                if found[2] >= self.LIKELY:  # no candidate starts inside a settled name (阳 of 欧阳娜娜)
                    taken.append(found[:2])
        spans.extend(self._latin(text))
        spans.extend(self._unlisted(text, index, [(s, e) for s, e, _, _ in spans]))
        return spans

    def _unlisted(
        self, text: str, index: _Index, found: list[tuple[int, int]]
    ) -> list[tuple[int, int, float, str]]:
        """Open candidates that start with no surname we know (朝鲁, 其木格, 佐藤美咲): two to six characters
        after a role word, up to where the text reads on. (A word standing alone between spaces was a
        candidate too: on the dev notes 367 windows for the model found 6 names, all but one also found
        otherwise; not worth the model's time.)"""
        spans = []
        ordinary = _ordinary_words()
        for at in sorted(index.role_end - index.inside_role):  # 联系|人: the longer role word counts
            if any(s <= at < e for s, e in found) or not _HAN_CHAR.match(text[at : at + 1] or "a"):
                continue
            stop = at + 1
            while stop < min(len(text), at + 6) and _HAN_CHAR.match(text[stop]) and (
                stop - at < 2 or stop not in index.follow_start
            ):
                stop += 1
            candidate = text[at:stop]
            if (
                len(candidate) >= 2
                and not any(c in NOT_GIVEN for c in candidate)
                and candidate not in ordinary
                and ordinary.get(candidate[:2], 0) < COMMON_WORD  # 客户车辆…
                and not _ADDRESSED.search(candidate)
                and not _made_of_words(candidate, ordinary)  # 办理定期
            ):
                spans.append((at, stop, self.OPEN, "after a role word, open"))
        return spans

    def _candidate(
        self, text: str, index: _Index, start: int, surname: int
    ) -> tuple[int, int, float, str] | None:
        if surname == 1 and text[start : start + 2] in COMPOUND_SURNAMES:
            return None  # the compound surname's own candidate
        given_at = start + surname
        if given_at in index.title_start:
            return None  # 王先生, 张经理: a form of address
        if surname == 1 and start > 0 and text[start - 1] in "老小阿":
            return None  # 老王, 小刘, 阿强: a nickname, not a name
        ordinary = _ordinary_words()
        head = text[start : given_at + 1]
        options = []
        for length in (2, 1):
            given = text[given_at : given_at + length]
            if len(given) < length or not all("\u4e00" <= c <= "\u9fff" and c not in NOT_GIVEN for c in given):
                continue
            end = given_at + length
            options.append((length, end, _edge(text, end) or end in index.follow_start))
        if not options:
            return None
        # the length after which the text reads on (a verb, a title, punctuation …); two if both or neither
        # do, unless the second given character is itself a word that follows names (王芳已到: 已)
        reads_on = [o for o in options if o[2]]
        length, end, after = (reads_on or options)[0]
        if len(reads_on) == 2 and text[given_at + 1] in _FOLLOWS:
            length, end, after = reads_on[1]
        at = start
        while at > 0 and text[at - 1] in " ：:":  # 紧急联系人：蔡建明
            at -= 1
        before = index.before_at.get(at, "")
        if len(before) == 1 and surname == 1 and text[start - 1 : start + 1] in ordinary:
            before = ""  # 对方, 同步, 同时: the one-character word is part of a word with the surname character
        weak = surname == 1 and text[start] in WEAK_SURNAMES
        naming = before in NAMING_WORDS
        name = text[start:end]
        role = len(before) >= 2
        common = ordinary.get(head, 0)
        if not (naming and not weak) and (
            # a word, not a name (周末, 高兴地, 谢谢, 黄金周); after a role word only a very common one
            # (丈夫蓝天翔 is a name)
            ordinary.get(name, 0) >= (3 if len(name) == 2 else NAME_AS_WORD)  # 马建国 is in the dictionary
            or common >= (VERY_COMMON_WORD if role else COMMON_WORD)
            or index.role_start.get(start, 0) >= 2  # 客户经理统一: the role word 经理
        ):
            return None
        if before in LIGHT_WORDS:
            return (start, end, self.OPEN, "after 的, open")
        if naming or (role and (after or not weak)) or (before and not weak):
            return (start, end, self.SURE, f"after {'a naming' if naming else 'a role'} word")
        if before:
            return (start, end, self.OPEN, f"after a {'role' if role else 'light'} word, open")
        edge_before = start == 0 or (_edge(text, start - 1) and not text[start - 1].isdigit())  # 70元转入
        if edge_before and not weak and not common and (
            after or (surname == 2 and text[start:given_at] not in WORD_LIKE_COMPOUNDS)
        ):
            return (start, end, self.LIKELY, "opening a clause, read on after")
        if any(text[start + 1 - n : start + 1] in ordinary for n in (2, 3) if start + 1 >= n):
            return None  # the surname character ends the word before it (复印件, 用于签证)
        if edge_before:
            return (start, end, self.OPEN, "opening a clause, open")
        if after and not weak:  # a surname character mostly used as a word (有, 后, 查 …) glued on
            return (start, end, self.OPEN, "read on after, open")
        return None

    @staticmethod
    def _dot_name(text: str, index: _Index, match) -> tuple[int, int]:
        """A name with ``·``, without the words glued on either side (翻译阿不都·热合曼来电: 阿不都·热合曼)."""
        start, end = match.span()
        first_dot = match.start() + min(i for i, c in enumerate(match.group()) if c in "·•")
        last_dot = match.start() + max(i for i, c in enumerate(match.group()) if c in "·•")
        ends = [e for e in range(start + 1, first_dot) if e in index.before_at and len(index.before_at[e]) >= 2]
        if ends:
            start = max(ends)
        stops = [
            f
            for f, length in index.follow_start.items()
            if last_dot + 2 <= f < end and (length >= 2 or text[f] in _DOT_NAME_STOPS)
        ]
        if stops:
            end = min(stops)
        return start, end

    def _latin(self, text: str) -> list[tuple[int, int, float, str]]:
        """Names in Latin script: a capitalised pair after a role word, or pinyin surname + given name."""
        if not any("A" <= c <= "z" for c in text):
            return []
        spans = []
        for match in _LATIN_PAIR.finditer(text, overlapped=True):
            before = text[max(0, match.start() - 12) : match.start()].rstrip(" :：")
            words = match.group().split(" ")
            if any(w.lower() in _LATIN_FUNCTION_WORDS for w in words):
                continue  # TRANSFER TO WANG: the name starts after TO
            if _ends_with(before, len(before), _ROLES) or any(
                before.lower().endswith(w) for w in _LATIN_ROLES
            ) or (words[0].lower() in PINYIN_SURNAMES and all(is_pinyin(w) for w in words[1:])) or (
                words[0].istitle() and words[-1].lower() in PINYIN_SURNAMES  # Emily Gu, Kelly Zhou
            ):
                spans.append((match.start(), match.end(), self.SURE, "Latin-script name"))
        for match in _PINYIN_PAIR.finditer(text, overlapped=True):
            surname, given = match.group(1), match.group(2)
            if surname.lower() in PINYIN_SURNAMES and is_pinyin(given) and len(given) >= 2:
                spans.append((match.start(), match.end(), self.LIKELY, "pinyin name"))
        return spans


_WINDOW = 4  # characters the model sees on each side of an open candidate, within its clause
_WIDEN = 2


def _without_numbers(clause: str) -> tuple[str, list[int] | None]:
    """The clause with each run of digits as one ``0``, and where each of its characters is in the clause
    (None: no digits, the clause itself)."""
    if _DIGIT_RUN.search(clause) is None:
        return clause, None
    parts, where, at = [], [], 0
    for match in _DIGIT_RUN.finditer(clause):
        parts.append(clause[at : match.start()])
        where.extend(range(at, match.start()))
        parts.append("0")
        where.append(match.start())
        at = match.end()
    parts.append(clause[at:])
    where.extend(range(at, len(clause)))
    return "".join(parts), where


_DIGIT_RUN = re.compile(r"[0-9]{2,}")


def _still_open(
    spans: list[tuple[int, int, float, str]], known: list[tuple[int, int]] = ()
) -> list[tuple[int, int, float, str]]:
    """The open candidates that a sure one or a known (customer's) name does not already cover."""
    sure = [(s, e) for s, e, score, _ in spans if score >= NameRecognizer.LIKELY] + list(known)
    return [
        span
        for span in spans
        if span[2] < NameRecognizer.LIKELY and not any(s <= span[0] and span[1] <= e for s, e in sure)
    ]


def _window(text: str, start: int, end: int) -> tuple[int, str]:
    """``(offset, window)``: the open candidate with up to eight characters of its clause on each side."""
    first = start
    while first > 0 and start - first < _WINDOW and text[first - 1] not in _CLAUSE_END:
        first -= 1
    last = end
    while last < len(text) and last - end < _WINDOW and text[last] not in _CLAUSE_END:
        last += 1
    return first, text[first:last]


_CLAUSE_END = frozenset("，。；！？、,.;!?\n（）()")
_CLAUSE = re.compile("([" + re.escape("".join(sorted(_CLAUSE_END))) + "])")
_CLAUSE_CACHE = 200_000

# Every word the rules look up, in one automaton: a clause is read once for all of them.
_BEFORE_WORD, _ROLE_WORD, _FOLLOW_WORD, _ELEMENT, _TITLE = 1, 2, 4, 8, 16
_KINDS: dict[str, int] = {}
for _words, _kind in (
    (_BEFORE, _BEFORE_WORD), (_ROLES, _ROLE_WORD), (_FOLLOWS, _FOLLOW_WORD), (NAME_ELEMENTS, _ELEMENT), (_TITLES, _TITLE)
):  # fmt: skip
    for _word in _words:
        _KINDS[_word] = _KINDS.get(_word, 0) | _kind
_LEXICON = ahocorasick.Automaton()
for _word, _kind in _KINDS.items():
    _LEXICON.add_word(_word, (_word, _kind))
_LEXICON.make_automaton()


class _Index:
    """Where the rules' words are in one clause: the longest word that may stand before a name ending at
    each position, where role words start and end, where words that follow names start, and the name
    elements."""

    def __init__(self, text: str) -> None:
        self.before_at: dict[int, str] = {}
        self.role_start: dict[int, int] = {}
        self.role_end: set[int] = set()
        self.inside_role: set[int] = set()  # positions strictly inside a role word
        self.follow_start: dict[int, int] = {}  # start → the longest such word's length
        self.elements: dict[int, int] = {}  # start → the longest element's end
        self.title_start: set[int] = set()
        for last, (word, kinds) in _LEXICON.iter(text):
            end = last + 1
            start = end - len(word)
            if kinds & _BEFORE_WORD and len(word) > len(self.before_at.get(end, "")):
                self.before_at[end] = word
            if kinds & _ROLE_WORD:
                self.role_start[start] = max(self.role_start.get(start, 0), len(word))
                if len(word) >= 2:
                    self.role_end.add(end)
                    self.inside_role.update(range(start + 1, end))
            if kinds & _FOLLOW_WORD:
                self.follow_start[start] = max(self.follow_start.get(start, 0), len(word))
            if kinds & _ELEMENT:
                self.elements[start] = max(self.elements.get(start, 0), end)
            if kinds & _TITLE:
                self.title_start.add(start)

    def element_runs(self) -> list[tuple[int, int]]:
        """Runs of one to three name elements, left to right, each the longest element where it starts;
        a run counts when it has two elements or three characters (次仁多吉, 莫日根; not 乌兰 alone)."""
        runs, at = [], 0
        for start in sorted(self.elements):
            if start < at:
                continue
            end, count = self.elements[start], 1
            while count < 3 and end in self.elements:
                end, count = self.elements[end], count + 1
            if count >= 2 or end - start >= 3:
                runs.append((start, end))
            at = end
        return runs
