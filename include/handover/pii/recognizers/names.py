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

Beyond the rules' words, jieba's dictionary is read for what it knows about names (:func:`_names_known`):
the two-character given names of its person names (晓东 in 13 of them: a weak surname character such as
符, 甘, 温 before a known given name is a surname), its common verbs (a name ends where one starts:
答应, 负责), and its words (a name's last character that starts a common word — 时收|款人 — is doubtful).
A role is also a word ending in a role or kinship suffix (安全员, 嫌疑人, 对手方, 车主, 工友). Names in a
list beside a name (尚文龙、甘立新、伏海鹰), a name's other form in brackets (Chan Hiu Ching（陈晓晴）), a
candidate with its role in brackets after it (秦国梁（儿子）) and the payee of a memo written as words
between spaces (阳光 物流费 青岛线) are read on the whole note. Latin-script names: pinyin, the Cantonese
spellings of Hong Kong and Macao (Chan Tai Man, Wong Kwok Keung), Wade-Giles, Vietnamese and Korean
surnames; a capitalised pair after a role word, an e-mail header field or a title, or before an
address, a possessive or a verb (Hans Müller <…>, Ivan Petrov称). Hong Kong and Macao notes are read as
Simplified (:func:`~handover.pii.patterns.fold`), with Cantonese particles and relations (嘅, 俾, 阿妈,
个仔), married names (区陈秀英: husband's surname first) and forms of address (陈生, 黄太).

Where the lists come from: the role, purpose and follow words are ours (the roles a bank's forms and
service logs name, Cantonese relation words, the brief of issue 14); the surnames from the 百家姓, the
Ministry of Public Security's surname rankings and regional surnames (区, 麦, 禤 of Hong Kong and Macao),
the compound surnames still in use (太史, 即墨 …); the romanised surnames from the Hong Kong Immigration
Department's Cantonese spellings, Wade-Giles and Vietnamese / Korean naming; the name elements from
public naming guides; given names, verbs and words from jieba's dictionary. None is taken from the notes
corpora.
"""

from __future__ import annotations

import re as stdlib_re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick
import regex as re
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from handover.pii.patterns import word_list
from handover.pii.recognizers import name_model
from handover.pii.recognizers.person import ENTITY, TITLES, CustomerNameRecognizer, person_result
from handover.pii.word_use import NAME_TAGGED_WORD, VERY_COMMON_WORD, ordinary_words

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
# 朴 of the Korean; 区 (Au), 麦 (Mak), 禤, 招 and 植 of Hong Kong and Macao; 郇 and 邸 of the north)
_MODERN = "肖闫付覃邝冼禚亓揭练粟庹母么蹇谌迟占代呙檀琚朴芦区麦禤招植郇邸仝郄眭兰"
SURNAMES = frozenset(_BAIJIAXING + _MODERN)
COMPOUND_SURNAMES = frozenset(
    word_list(
        "万俟 司马 上官 欧阳 夏侯 诸葛 闻人 东方 赫连 皇甫 尉迟 公羊 澹台 公冶 宗政 濮阳 淳于 单于 太叔 申屠 公孙 仲孙 "
        "轩辕 令狐 钟离 宇文 长孙 慕容 鲜于 闾丘 司徒 司空 亓官 司寇 子车 颛孙 端木 巫马 公西 漆雕 乐正 壤驷 公良 拓跋 "
        "夹谷 宰父 谷梁 段干 百里 东郭 南门 呼延 归海 羊舌 微生 梁丘 左丘 东门 西门 商牟 南宫 第五 "
        # not in the 百家姓: the Xianbei and Manchu compound surnames still in use
        "独孤 贺兰 斛律 完颜 纳兰 耶律 钮祜禄 爱新觉罗 叶赫那拉 "
        # compound surnames still in use that the 百家姓 lacks
        "太史 即墨 达奚 褚师 东里 南荣 公仪 公户"
    )
)
# surname characters that are mostly ordinary words or function characters: as a surname they need a role
# word before them or a verb, title or punctuation after them
WEAK_SURNAMES = frozenset(
    "和于时万明向文高方常金马安成平能双国东后红空通都那相查广从印步居满利越益公乐元水云花山车全秋司白申边别连容古易终"
    "师冷简沙养须关有法爱年福言商第包诸左石解应单干经支席强路江童盛钟夏田华章费齐康余计舒项祝蓝牛寿农温习鱼慎戈衡弘禄"
    "隆融丰巢荆游权盖桓家宁井富全班仰伊宫甘符景叶幸宿怀从索籍池阴能苍党扶宰通燕尚庄晏充慕茹宦暨满匡寇东欧沃蔚越师勾敖"
    "辛那空毋须后竺督楚琴帅伯赏墨哈年阳代占么母练粟揭区麦招植"
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
    "接待 拜访 委托 授权 致 to TO by 组长 对象 人员 改为 变更为 更换为 换成 改成 设为 指定 写明 填写 写 填 为 "
    "被 从 说 包括 分别为 分别是 抄送 署名 落款 发件人 嫌疑人 先生 太太 夫人 "
    # Cantonese, as notes from Hong Kong and Macao write it (folded to Simplified): 俾 gives, 同 is and/with
    "俾 阿妈 阿爸 妈咪 爹地 家姐 细佬 细妹 个仔 个女 老细 老豆 老母 阿哥 阿姐 契妈 契爷 老爷"
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
    "岁 第 本息 归还 还清 结清 报名 奖学金 修车 补胎 同志 姑娘 "
    # Cantonese (folded to Simplified): 嘅 of, 话 says, 喺 is at, 系 is, 嚟 comes, 咗 (done), 俾 gives
    "嘅 话 喺 系 嚟 咗 俾 佢"
)
# characters that never end or fill a given name (particles, pronouns, function words, measure words)
NOT_GIVEN = frozenset(
    "的了吗呢吧啊呀哦嘛么和与及或在是说称到去把被给让向从对于为这那哪谁什怎我你他她它们个些每各某其之所而且但并就都也"
    "又还再才很太最更已未没不要想会能应该需请叫号卡款费钱万年时分秒点次张份笔位名户等"
    # Cantonese particles and pronouns
    "俾嘅喺咗嚟佢哋啲冇唔咁乜嘢"
)

_HAN = r"[\u4e00-\u9fff]"
_DOT_NAME = re.compile(r"[\u4e00-\u9fff]{1,8}(?:[·•][\u4e00-\u9fff]{1,8})+")
_DOT_NAME_STOPS = frozenset("的说称和与在已给")  # one-character words that end a name with · (买, 都 may not)
_EDGE = re.compile(r"[\s\p{P}\p{S}0-9A-Za-z]")
_HAN_CHAR = stdlib_re.compile(_HAN)  # (the standard library's re, here and below: faster on these)
_MAX_WORD = max(len(w) for w in (*ROLE_WORDS, *PURPOSE_WORDS, *FOLLOW_WORDS))
_ROLES = frozenset(ROLE_WORDS)
_PURPOSES = frozenset(PURPOSE_WORDS)
_FOLLOWS = frozenset(FOLLOW_WORDS) | _PURPOSES | frozenset("货钱款费")
_BEFORE = _ROLES | _PURPOSES | LIGHT_WORDS
# a title right after a surname is a form of address (王先生, 张经理), not a given name
_TITLES = frozenset(TITLES) | frozenset(
    word_list("总 哥 姐 老板 师傅 律师 医生 护士 阿姨 叔叔 大爷 大妈 某 某某 姓 氏 本人 sir 家的 家里")
)
# Cantonese forms of address: a surname and 生 (陈生, Mr Chan) or 太 (黄太, Mrs Wong), then the text reads on
_CANTONESE_TITLES = frozenset("生太")
# the names of forms and examples (John Doe's), never a person's
PLACEHOLDER_NAMES = frozenset(word_list("张三 李四 王五 赵六 钱七 孙八"))
# the last character of a place name (石家庄, 王家冲, 后溪镇): a candidate ending in one is a place
PLACE_ENDS = frozenset("庄村冲湾屯寨坪沟坝垭堡镇乡县区市路街巷岭峪")
# a surname with 老/小 or a title: a form of address, not a name (老王, 小李, 周女士, 王先生)
_ADDRESSED = re.compile(
    "[老小][" + "".join(sorted(SURNAMES)) + "]|" + "|".join(sorted(_TITLES, key=len, reverse=True)) + "|姓"
)
# a surname and a first given character that make a common word (谢谢, 黄金, 和平, 马上): not a name
# where candidates start: a surname's first character (compound surnames longest first)
_SURNAME_FIRST = SURNAMES | {w[0] for w in COMPOUND_SURNAMES}
# (the standard library's re: this class of 600 characters finds 3–4× faster there than in regex)
_SURNAME_START = stdlib_re.compile("[" + "".join(sorted(_SURNAME_FIRST)) + "]")
_COMPOUND_LENGTHS = sorted({len(w) for w in COMPOUND_SURNAMES}, reverse=True)
_COMPOUND_FIRST = frozenset(w[0] for w in COMPOUND_SURNAMES)

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
# Romanised surnames besides pinyin's: Hong Kong and Macao's Cantonese spellings (as their immigration
# departments write them: Chan 陈, Wong 黄/王, Cheung 张, Leung 梁, Tsang 曾, Ng 吴/伍, Au 区 …), Taiwan's
# Wade-Giles (Chang, Hsu, Tsai …), and the commonest Vietnamese and Korean ones
ROMANISED_SURNAMES = PINYIN_SURNAMES | frozenset(
    word_list(
        "chan wong lee cheung lau leung lam ho ng tsang chow tang yip kwok lai mak chu cheng fung yeung tse lo "
        "siu au kwan choi tam poon hui ko law szeto ip tong chiu cheuk pang ngai kong mok fong luk shum sin "
        "suen tsui yau yim yuen choy chung hung kam kan kwong lui lok mui ngan sit tsoi tung woo yiu chong chau "
        "chin fok hau hon kwan lim loh mah ngo sham shek sze yee yung "
        "chang chen hsu hsieh kuo tsai tseng liao chou yeh chuang chiang kao hsiao chien tsao "
        "nguyen tran le pham hoang huynh phan vu vo dang bui ngo duong ly kim park jung kang cho yoon jang shin"
    )
)
# a syllable as Hong Kong, Macao and Taiwan romanise a given name (Hiu, Ching, Kwok, Keung, Tsz, Yuen …)
_ROMANISED_SYLLABLE = re.compile(
    r"(?:ng|kw|gw|ch|ts|sh|sz|hs|[bcdfghjklmnpstwyz])?(?:aa|a|e|ee|i|o|oo|u|y)(?:[aeiouy]{0,2})(?:ng|n|m|k|t|p|h)?"
    r"|tsz|sz",
    re.IGNORECASE,
)
_LATIN_WORD = r"[A-Z][a-zà-öø-ÿ]{1,14}|[A-Z]{2,14}"
_LATIN_PAIR = re.compile(
    rf"(?<![A-Za-zÀ-ÖØ-öø-ÿ])(?:{_LATIN_WORD})(?: (?:{_LATIN_WORD})){{1,2}}(?![A-Za-zÀ-ÖØ-öø-ÿ])"
)
# English words before a name (after lower-casing): roles, relations, titles, an e-mail's header fields
_LATIN_ROLES = ("beneficiary", "payee", "son", "daughter", "wife", "husband", "rm", "seller", "buyer", "to", "ref",
                "by", "for", "mr", "ms", "mrs", "mr.", "ms.", "mrs.", "dr", "dr.", "miss", "prof.", "from", "cc",
                "father", "mother", "brother", "sister", "friend", "colleague", "boss", "helping", "client",
                "customer", "sender", "dear", "attn", "attn:")  # fmt: skip
# what follows a name in English or Chinese: an e-mail address, a possessive, its other form in brackets,
# a title, a verb of saying
_LATIN_AFTER = re.compile(r" ?<|'s\b|’s\b| ?\(| ?（|先生|女士|小姐|太太|博士|律师|医生|称|说|话|讲|表示|来电|想|要|的|嘅|喺|系")
_LATIN_FUNCTION_WORDS = frozenset(("to", "by", "for", "ref", "of", "and", "with", "the", "from", "transfer", "payment"))
# capitalised words that are not names: an e-mail's fields and greetings, titles, pronouns, the words of
# addresses and banking, and the places whose romanised names read like people's (Hong Kong, Kowloon)
_NOT_NAME_WORDS = _LATIN_FUNCTION_WORDS | frozenset(
    word_list(
        "cc bcc subject re fw fwd dear hi hello hey thanks thank best regards kind yours sincerely please mr mrs "
        "ms miss dr prof sir madam a an my our your his her their this that these i we he she it they you "
        "account bank branch card cards atm transfer payment salary online closing savings loan mortgage fps "
        "room unit flat floor block tower lane road rd street st avenue ave no building centre center plaza "
        "court garden gardens estate house district city new hong kong kowloon territories island macau macao "
        "taipa coloane taipei taiwan china london sydney australia vic nsw monday tuesday wednesday thursday "
        "friday saturday sunday january february march april may june july august september october "
        "november december ok yes no vip crm id hkid"
    )
)
_ANY_LATIN = re.compile(r"[A-Za-z]")
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

STRONG_GIVEN = 2  # a two-character given name that this many of jieba's person names have is a given name
VERB_FREQUENCY = 100  # jieba's verbs this common (答应, 负责, 离开) show where a name before them ends
# the last character of a word that names a person by role or trade (安全员, 嫌疑人, 冒用者, 对手方, 车主,
# 工友, 职工, 导师, 村民, 男子, 大哥, 老伴): Chinese agent and kinship suffixes
ROLE_SUFFIXES = frozenset("员人者方主友工师民子哥姐弟妹爸妈婆公叔姨舅伯嫂手官警士佬仔伴")


@dataclass(frozen=True)
class _Known:
    """What jieba's dictionary knows that the rules use (built once per process)."""

    ordinary: dict[str, int]  # words that are not names, with their frequency (`word_use.ordinary_words`)
    given: dict[str, int]  # two-character given names → how many of its person names have them
    verbs: frozenset[str]  # its common two-character verbs
    words: frozenset[str]  # all its words of two to four characters
    name_tagged: frozenset[str]  # words it tags as names that are as common as words (洪水, 魏巍, 高峰)
    char_tags: dict[str, str]  # the part of speech of each single character (磊 nr, 付 v)
    frequency: dict[str, int]  # jieba's frequency of every word


_KNOWN: list[_Known] = []  # _names_known(), once built (read on the hot path without a call)


@lru_cache(maxsize=1)
def _names_known() -> _Known:
    """jieba's dictionary read for names: of its person names (tagged ``nr``) those made of a surname we
    know and a two-character given name give the given names people have (晓东 in 13 of them, 海燕 in 4);
    its verbs (tagged ``v``) show where a name ends."""
    import jieba.posseg

    ordinary = ordinary_words()
    frequency = jieba.dt.FREQ
    given: dict[str, int] = {}
    verbs, words, name_tagged = set(), set(), set()
    for word, tag in jieba.posseg.dt.word_tag_tab.items():
        if 2 <= len(word) <= 4 and frequency.get(word, 0) >= 3:
            words.add(word)
            if tag.startswith("nr") and frequency.get(word, 0) >= NAME_TAGGED_WORD:
                name_tagged.add(word)
        if tag == "nr" and len(word) >= 3 and frequency.get(word, 0) < NAME_TAGGED_WORD:
            surname = 2 if word[:2] in COMPOUND_SURNAMES else 1 if word[0] in SURNAMES else 0
            if surname and len(word) - surname == 2:
                given[word[surname:]] = given.get(word[surname:], 0) + 1
        elif tag == "v" and len(word) == 2 and frequency.get(word, 0) >= VERB_FREQUENCY:
            verbs.add(word)
    char_tags = {w: t for w, t in jieba.posseg.dt.word_tag_tab.items() if len(w) == 1}
    known = _Known(
        ordinary, given, frozenset(verbs), frozenset(words), frozenset(name_tagged), char_tags, frequency
    )
    _KNOWN[:] = [known]
    return known


_FUNCTION_TAGS = frozenset("vpcudfrm")  # jieba's tags of verbs and function words (their first letter)
WORD_CUT = 30  # a word this common that a name's last character would start (收款, 例会, 药费)


def _cuts_word(text: str, end: int, known: _Known) -> bool:
    """Whether the character before ``end`` and the one after it make a common word."""
    return end < len(text) and known.frequency.get(text[end - 1 : end + 1], 0) >= WORD_CUT


def _role_like(text: str, end: int) -> str:
    """The word ending at ``end`` that names a person by a role (安全员, 嫌疑人, 车主): a dictionary word of two
    to four characters ending in a role suffix, or a dictionary word and an agent suffix (冒用 + 者, 对手 +
    方, 控制 + 人) — unless the character at ``end`` makes a word with the one before it (主管, 公司)."""
    if end < 2 or text[end - 1] not in ROLE_SUFFIXES:
        return ""
    words = _names_known().words
    if text[end - 1 : end + 1] in words:
        return ""
    for length in (4, 3, 2):
        word = text[end - length : end] if end >= length else ""
        if not word or not _HAN_CHAR.match(word[0]):
            continue
        if word in words or (length == 3 and word[-1] in _AGENT_SUFFIXES and word[:-1] in words):
            return word
    return ""


_AGENT_SUFFIXES = frozenset("者人方员")


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
    POSSIBLE = 0.2  # nothing around it says so: a name only beside another one (in a list, an alias)

    def __init__(self) -> None:
        # no context words: every name it reports already scores over the threshold (the role words
        # before a name are the rules' own), so the enhancer could only move a score, never a finding
        super().__init__(supported_entities=[ENTITY], name="NameRecognizer", supported_language="zh")
        self._prepared: dict[str, tuple[list, list]] = {}  # text → its candidates, those still open
        self._clauses: dict[str, tuple[tuple[int, int, float, str], ...]] = {}
        self._customers: CustomerNameRecognizer | None = None

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

    def know(self, customers: CustomerNameRecognizer) -> None:
        """The branch's customer names (their recognizer): an open candidate inside one needs no model."""
        self._customers = customers

    def _open(self, text: str) -> tuple[list[tuple[int, int, float, str]], list[tuple[int, int, float, str]]]:
        """The candidates, and those still open: not covered by a sure one or a customer's name."""
        spans = self.spans(text)
        if not any(self.OPEN <= score < self.LIKELY for _, _, score, _ in spans):
            return spans, []
        known = (
            self._customers.spans(text)
            if self._customers is not None
            else []
        )
        return spans, _still_open(spans, known)

    def forget(self) -> None:
        """Drop what was remembered (clauses read, candidates prepared)."""
        self._prepared.clear()
        self._clauses.clear()

    def prepare(self, texts: Iterable[str], *, settle: bool = True) -> list[str]:
        """Find the candidates of many texts at once and settle the open ones in the model's batches
        (what :meth:`found` then asks of the model is remembered). ``settle=False``: only find them, and
        return the windows for the model (:func:`~handover.pii.recognizers.name_model.person_spans`
        settles them, those of several calls at once)."""
        if len(self._prepared) > 10_000:
            self._prepared.clear()
        windows = []
        for text in texts:
            _, candidates = self._prepared[text] = self._open(text)
            if candidates:
                windows.extend(_window(text, s, e)[1] for s, e, _, _ in candidates)
        if settle and windows and name_model.available():
            name_model.person_spans(windows)
        return windows

    def spans(self, text: str) -> list[tuple[int, int, float, str]]:
        """``(start, end, score, how)`` of each name candidate in ``text`` (overlaps left to the analyzer).
        No rule looks across a clause's punctuation, so each clause is read on its own, and what a clause
        yields is remembered (staff repeat their phrases; a note's other clauses need not). No rule asks
        which digits a number has, only that they are digits: a clause is remembered with each run of
        digits as one ``0`` (回拨13812345678无人接听 and 回拨13998765432无人接听 are read once)."""
        spans: list[tuple[int, int, float, str]] = []
        # the note with each run of digits as one 0, and where each of its characters is in the note
        keyed, where = _without_numbers(text)
        at = 0
        for piece in _CLAUSE.split(keyed):
            if piece:
                found = self._clauses.get(piece)
                if found is None:
                    if len(self._clauses) >= _CLAUSE_CACHE:
                        self._clauses.clear()
                    found = self._clauses[piece] = tuple(self._clause_spans(piece))
                if not found:  # most clauses
                    pass
                elif where is None:
                    spans.extend(found if at == 0 else [(at + s, at + e, score, how) for s, e, score, how in found])
                else:
                    spans.extend([(where[at + s], where[at + e - 1] + 1, score, how) for s, e, score, how in found])
            at += len(piece)
        spans.extend(self._latin(text))
        if " " in text and len(text) <= _MEMO_LENGTH:
            spans.extend(self._memo(text))
        if any(score < self.LIKELY for _, _, score, _ in spans):
            spans = _beside_names(text, spans)
        return spans

    def _clause_spans(self, text: str) -> list[tuple[int, int, float, str]]:
        index = _Index(text)
        spans = (
            [(*self._dot_name(text, index, m), self.SURE, "name with ·") for m in _DOT_NAME.finditer(text)]
            if "·" in text or "•" in text
            else []
        )
        if index.elements:
            spans.extend((s, e, self.SURE, "minority name elements") for s, e in index.element_runs())
        taken = [(s, e) for s, e, _, _ in spans]
        candidate, likely = self._candidate, self.LIKELY
        # only where a surname starts (one search, not a step per character: 1.7 candidates a clause of 12)
        for match in _SURNAME_START.finditer(text):
            start = match.start()
            char = text[start]
            if taken and any(s <= start < e for s, e in taken):
                continue
            if char in _COMPOUND_FIRST:
                surname = next((n for n in _COMPOUND_LENGTHS if text[start : start + n] in COMPOUND_SURNAMES), 1)
                if surname == 1 and char not in SURNAMES:
                    continue
            else:
                surname = 1  # (a first character of no compound surname is a surname)
            found = candidate(text, index, start, surname)
            if found is not None:
                spans.append(found)
                if found[2] >= likely:  # no candidate starts inside a settled name (阳 of 欧阳娜娜)
                    taken.append(found[:2])
        if index.role_end:  # (the unlisted names stand after a role word)
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
        ordinary = ordinary_words()
        for at in sorted(index.role_end - index.inside_role):  # 联系|人: the longer role word counts
            while at < len(text) and text[at] in " ：:":  # 收款人：佐藤美咲
                at += 1
            if any(s <= at < e for s, e in found) or not _HAN_CHAR.match(text[at : at + 1] or "a"):
                continue
            stop = at + 1
            while stop < min(len(text), at + 6) and _HAN_CHAR.match(text[stop]) and (
                stop - at < 2 or not index.follows(stop)
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
        first = text[given_at : given_at + 1]
        if not "\u4e00" <= first <= "\u9fff":
            return None  # no Chinese character after the surname: no given name of one or two (below)
        known = _KNOWN[0] if _KNOWN else _names_known()
        if first in NOT_GIVEN and not (
            known.given.get(text[given_at : given_at + 2], 0) >= STRONG_GIVEN
            and text[given_at : given_at + 2] not in _TITLES
        ):
            return None  # 王的, 和了: no given name starts with it unless jieba knows the pair as one (below)
        if given_at in index.title_start:
            return None  # 王先生, 张经理: a form of address
        if surname == 1 and start > 0 and text[start - 1] in "老小阿":
            return None  # 老王, 小刘, 阿强: a nickname, not a name
        if text[given_at : given_at + 1] in _CANTONESE_TITLES and self._reads_on(text, index, given_at + 1):
            return None  # 陈生, 黄太: Mr Chan, Mrs Wong
        ordinary = known.ordinary
        weak_char = surname == 1 and text[start] in WEAK_SURNAMES
        head = text[start : given_at + 1]
        pair = text[given_at : given_at + 2]
        given_name = known.given.get(pair, 0) >= STRONG_GIVEN and pair not in _TITLES  # 晓东, 德才, 万福
        at = start
        while at > 0 and text[at - 1] in " ：:":  # 紧急联系人：蔡建明
            at -= 1
        before = index.before_at.get(at, "")
        if len(before) == 1 and surname == 1 and text[start - 1 : start + 1] in ordinary:
            before = ""  # 对方, 同步, 同时: the one-character word is part of a word with the surname character
        if not before:
            before = _role_like(text, start)  # 安全员, 对手方, 冒用者, 车主: a word that names a person's role
        if not before:
            # with no word before it, two of the tests below drop it whatever its given name: settled first
            if ordinary.get(head, 0) >= (VERY_COMMON_WORD if given_name else COMMON_WORD):
                return None  # a word, not a name (谢谢, 时间)
            if start > 0 and not (_edge(text, start - 1) and not text[start - 1].isdigit()) and any(
                text[start + 1 - n : start + 1] in ordinary for n in (2, 3) if start + 1 >= n
            ):
                return None  # the surname character ends the word before it (复印件, 用于签证)
        options = []
        for length in (2, 1):
            given = text[given_at : given_at + length]
            if len(given) < length or not ("\u4e00" <= given[0] <= "\u9fff" and "\u4e00" <= given[-1] <= "\u9fff"):
                continue  # (one or two characters: the first and the last are all of them)
            if not NOT_GIVEN.isdisjoint(given) and not (length == 2 and given_name):
                continue
            if length == 2 and weak_char and not given_name and known.frequency.get(given, 0) >= VERY_COMMON_WORD:
                continue  # 查女儿, 和中文: a word-like surname character, then a common word
            end = given_at + length
            options.append((length, end, self._reads_on(text, index, end)))
        if not options:
            return None
        # the length after which the text reads on (a verb, a title, punctuation …); two if both or neither
        # do, unless the second given character is itself a word that follows names (王芳已到: 已) or starts
        # one (龚丽事后说: 事后), and the two are no given name jieba knows
        reads_on = [o for o in options if o[2]]
        length, end, after = (reads_on or options)[0]
        if len(options) == 2 and not given_name and (
            (len(reads_on) == 2 and text[given_at + 1] in _FOLLOWS)
            or (not reads_on and ordinary.get(text[given_at + 1 : given_at + 3], 0) >= COMMON_WORD)
        ):
            length, end, after = options[1]
        if length == 2 and given_name and surname == 1 and text[given_at] in SURNAMES:
            # a married name of Hong Kong and Macao: the husband's surname before her own name (区陈秀英)
            married = text[given_at + 1 : given_at + 3]
            if known.given.get(married, 0) >= STRONG_GIVEN and self._reads_on(text, index, end + 1):
                end, after = end + 1, True
        weak = surname == 1 and text[start] in WEAK_SURNAMES and not given_name
        naming = before in NAMING_WORDS
        name = text[start:end]
        if name in PLACEHOLDER_NAMES or text[end - 1] in PLACE_ENDS or text[end : end + 1] in PLACE_ENDS:
            return None
        if len(name) == 2 and name[1] == "家":
            return None  # 韦家, 张家: the family
        role = len(before) >= 2
        common = ordinary.get(head, 0)
        if not (naming and not weak) and (
            # a word, not a name (周末, 高兴地, 谢谢, 黄金周); after a role word only a very common one
            # (丈夫蓝天翔 is a name)
            ordinary.get(name, 0) >= (3 if len(name) == 2 else NAME_AS_WORD)  # 马建国 is in the dictionary
            or common >= (VERY_COMMON_WORD if role or given_name else COMMON_WORD)
            or index.role_start.get(start, 0) >= 2  # 客户经理统一: the role word 经理
        ):
            if before and index.role_start.get(start, 0) < 2 and (name in known.name_tagged or head in known.name_tagged):
                # a common word that jieba also tags as a name (转魏巍, 叫高峰的人, 被洪水淹了): the model says
                return (start, end, self.OPEN, "a word that is a name too, open")
            return None
        if before in LIGHT_WORDS:
            return (start, end, self.OPEN, "after 的, open")
        # the name's last character starts a word with what follows (时收|款人, 付药|费, 周例|会), or the
        # name is itself a dictionary word (马拉松, 龙虾): then only the model can say
        # … unless what follows is what the money is for (李强加油卡充值, 任静电费分摊: a memo's payee)
        doubtful = (
            not given_name
            and (name in known.words or _cuts_word(text, end, known))
            and _PURPOSE.search(text, end) is None
        )
        if doubtful and len(name) == 2 and not naming and _cuts_word(text, end, known) and (
            known.char_tags.get(name[1], "")[:1] in _FUNCTION_TAGS
        ):
            return None  # 时收|款人, 都转|给, 和出|生: a verb or function character cut out of a word
        if naming or (role and (after or not weak)) or (before and not weak):
            if doubtful and not naming and not role:
                return (start, end, self.OPEN, "after a one-character word, reads into a word, open")
            return (start, end, self.SURE, f"after {'a naming' if naming else 'a role'} word")
        if before:
            return (start, end, self.OPEN, f"after a {'role' if role else 'light'} word, open")
        edge_before = start == 0 or (_edge(text, start - 1) and not text[start - 1].isdigit())  # 70元转入
        if edge_before and not weak and not common and (
            after or (surname == 2 and text[start:given_at] not in WORD_LIKE_COMPOUNDS)
        ):
            if doubtful:
                return (start, end, self.OPEN, "opening a clause, reads into a word, open")
            return (start, end, self.LIKELY, "opening a clause, read on after")
        if any(text[start + 1 - n : start + 1] in ordinary for n in (2, 3) if start + 1 >= n):
            return None  # the surname character ends the word before it (复印件, 用于签证)
        if given_name and after and not common:
            if _cuts_word(text, end, known):
                return (start, end, self.OPEN, "a given name jieba knows, reads into a word, open")
            return (start, end, self.LIKELY, "a given name jieba knows, read on after")
        if edge_before:
            return (start, end, self.OPEN, "opening a clause, open")
        if after and not weak:  # a surname character mostly used as a word (有, 后, 查 …) glued on
            return (start, end, self.OPEN, "read on after, open")
        if given_name or (length == 2 and not common):
            return (start, end, self.POSSIBLE, "no word around it")  # a name only beside another (lists)
        return None

    @staticmethod
    def _reads_on(text: str, index: _Index, end: int) -> bool:
        """Whether the text after a name ending at ``end`` reads on: punctuation or the end, a word that
        follows names, or a verb (答应, 负责, 离开 …)."""
        return _edge(text, end) or index.follows(end) or text[end : end + 2] in _names_known().verbs

    def _memo(self, text: str) -> list[tuple[int, int, float, str]]:
        """Payees in a transfer memo written as words between spaces (``阳光 物流费 青岛线``, ``房租3月 张磊
        付清``, ``退款 6215… 牧野``): a word of a surname and one or two characters that opens the memo or
        stands beside what the money is for (numbers between do not count) is the payee — even an ordinary
        word (阳光, 隆冬) when it opens the memo right before the purpose."""
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        purposes = [i for i, (_, _, t) in enumerate(tokens) if _is_purpose(t)]
        if not purposes or len(tokens) < 2:
            return []
        words = [i for i, (_, _, t) in enumerate(tokens) if not _NUMBERISH.fullmatch(t)]
        known = _names_known()
        spans = []
        for i, (start, end, token) in enumerate(tokens):
            if i in purposes or not _HAN_WORD.fullmatch(token):
                continue
            surname = next((n for n in _COMPOUND_LENGTHS if token[:n] in COMPOUND_SURNAMES), 0) or (
                1 if token[0] in SURNAMES else 0
            )
            if not surname or not 1 <= len(token) - surname <= 2 or _ADDRESSED.search(token):
                continue
            at = words.index(i) if i in words else -1
            beside = at >= 0 and any(words[j] in purposes for j in (at - 1, at + 1) if 0 <= j < len(words))
            ordinary = known.ordinary.get(token, 0)
            if ordinary >= VERY_COMMON_WORD and token not in known.given:  # 周末, 明天: never a payee
                continue
            if ordinary and not (i == 0 and 1 in purposes):
                continue
            if token[-1] in PLACE_ENDS or token in PLACEHOLDER_NAMES:
                continue
            if i != 0 and token in known.words and len(token) - surname < 2:
                continue  # 龙虾, 松木: a word (a surname and two given characters in jieba is mostly a name)
            if i != 0 and len(token) - surname == 1 and known.char_tags.get(token[-1]) not in ("nr", "nrfg"):
                continue  # 周结, 年付: a surname character and a verb, not 张磊
            if i == 0 or beside:
                spans.append((start, end, self.SURE, "payee in a memo"))
        return spans

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
        if _ANY_LATIN.search(text) is None:
            return []
        spans = []
        memo = " " in text and len(text) <= _MEMO_LENGTH and any(_is_purpose(t) for t in text.split())
        for match in _LATIN_PAIR.finditer(text, overlapped=True):
            before = text[max(0, match.start() - 12) : match.start()].rstrip(" :：")
            words = match.group().split(" ")
            if any(w.lower() in _NOT_NAME_WORDS for w in words):
                continue  # TRANSFER TO WANG: the name starts after TO
            lower = [w.lower() for w in words]
            if (
                _ends_with(before, len(before), _ROLES)
                or _role_like(before, len(before))
                or any(before.lower().endswith(w) for w in _LATIN_ROLES)
                or (lower[0] in PINYIN_SURNAMES and all(is_pinyin(w) for w in lower[1:]))
                # Chan Tai Man, Wong Kwok Keung, Nguyen Van Hai
                or (lower[0] in ROMANISED_SURNAMES and all(_ROMANISED_SYLLABLE.fullmatch(w) for w in lower[1:]))
                or (words[0].istitle() and lower[-1] in ROMANISED_SURNAMES)  # Emily Gu, Peter Ho, Carmen Lee
                or _LATIN_AFTER.match(text, match.end()) is not None  # Hans Müller <h.mueller@…>, Ivan Petrov称
                or (memo and match.start() == 0)  # Maria Garcia 西语课 费用
            ):
                spans.append((match.start(), match.end(), self.SURE, "Latin-script name"))
        for match in _PINYIN_PAIR.finditer(text, overlapped=True):
            surname, given = match.group(1), match.group(2)
            if surname.lower() in PINYIN_SURNAMES and is_pinyin(given) and len(given) >= 2:
                spans.append((match.start(), match.end(), self.LIKELY, "pinyin name"))
        return spans


_MEMO_LENGTH = 40  # a note this short, of words between spaces, may be a transfer memo
_TOKEN = re.compile(r"\S+")
_HAN_WORD = re.compile(r"[\u4e00-\u9fff]{2,5}")
_NUMBERISH = re.compile(r"[0-9A-Za-z·.\-\u4e00-\u9fff]*[0-9][0-9A-Za-z·.\-]*")  # 6215…, 川A·2RT66, 3月份
# what money is for: a purpose word, or a word ending in fee, payment, money or rent (物流费, 货款, 饭钱)
_PURPOSE_ENDS = frozenset("费款钱租资")


_PURPOSE = re.compile(
    "[" + "".join(sorted(_PURPOSE_ENDS)) + "]|^(?:" + "|".join(sorted(_PURPOSES, key=len, reverse=True)) + ")"
)


def _is_purpose(token: str) -> bool:
    return _PURPOSE.search(token) is not None


# between two names of a list, or a name and its other form in brackets
_LIST_JOINS = frozenset(("、", "和", "与", "及", "跟", "同", "或"))


def _beside_names(text: str, spans: list[tuple[int, int, float, str]]) -> list[tuple[int, int, float, str]]:
    """Candidates the rules left unsettled that stand in a list beside a name (尚文龙、甘立新、伏海鹰) or
    in brackets right after one (Chan Hiu Ching（陈晓晴）, 区国华（区读欧）) are names too."""
    out = [
        # its role in brackets right after it: 蓝海燕（客户经理）, 秦国梁（儿子）
        (s, e, NameRecognizer.SURE, "its role in brackets after it")
        if score < NameRecognizer.LIKELY and score >= NameRecognizer.OPEN and text[e : e + 1] == "(" and _role_in_brackets(text, e + 1)
        else (s, e, score, how)
        for s, e, score, how in spans
    ]
    names = [(s, e) for s, e, score, _ in out if score >= NameRecognizer.LIKELY]
    if not names:
        return out
    changed = True
    while changed:
        changed = False
        for i, (start, end, score, how) in enumerate(out):
            if score >= NameRecognizer.LIKELY:
                continue
            listed = any(
                text[e:start] in _LIST_JOINS or text[end:s] in _LIST_JOINS for s, e in names
            )
            alias = (
                start > 0 and text[start - 1] == "(" and end < len(text) and text[end] == ")"
                and any(e == start - 1 or (e == start - 2 and text[e] == " ") for _, e in names)
            )
            if listed or alias:
                out[i] = (start, end, NameRecognizer.SURE, "beside a name" if listed else "a name's other form")
                names.append((start, end))
                changed = True
    return out


def _role_in_brackets(text: str, at: int) -> bool:
    close = text.find(")", at)
    inside = text[at:close] if 0 < close - at <= 8 else ""
    return bool(inside) and (
        any(inside.startswith(w) for w in _ROLES if len(w) >= 2) or bool(_role_like(inside, len(inside)))
    )


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


_DIGIT_RUN = stdlib_re.compile(r"[0-9]{2,}")


def _still_open(
    spans: list[tuple[int, int, float, str]], known: list[tuple[int, int]] = ()
) -> list[tuple[int, int, float, str]]:
    """The open candidates that a sure one or a known (customer's) name does not already cover."""
    sure = [(s, e) for s, e, score, _ in spans if score >= NameRecognizer.LIKELY] + list(known)
    return [
        span
        for span in spans
        if NameRecognizer.OPEN <= span[2] < NameRecognizer.LIKELY
        and not any(s <= span[0] and span[1] <= e for s, e in sure)
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
_CLAUSE = stdlib_re.compile("([" + stdlib_re.escape("".join(sorted(_CLAUSE_END))) + "])")
_CLAUSE_CACHE = 200_000

# Every word the rules look up, in one automaton: a clause is read once for all of them.
_BEFORE_WORD, _ROLE_WORD, _FOLLOW_WORD, _ELEMENT, _TITLE = 1, 2, 4, 8, 16
_KINDS: dict[str, int] = {}
for _words, _kind in (
    (_BEFORE, _BEFORE_WORD), (_ROLES, _ROLE_WORD), (_FOLLOWS, _FOLLOW_WORD), (NAME_ELEMENTS, _ELEMENT), (_TITLES, _TITLE)
):  # fmt: skip
    for _word in _words:
        _KINDS[_word] = _KINDS.get(_word, 0) | _kind
# … but for the words that follow names, the commonest (说, 到, 在, 的 …: half of all matches), which are
# looked up where a name may end (`_Index.follows`)
_LEXICON = ahocorasick.Automaton()
for _word, _kind in _KINDS.items():
    if _kind & ~_FOLLOW_WORD:
        _LEXICON.add_word(_word, (_word, _kind & ~_FOLLOW_WORD, len(_word)))
_LEXICON.make_automaton()
_FOLLOWING: dict[str, tuple[str, ...]] = {}  # first character → the words that follow names, longest first
for _word in sorted(_FOLLOWS, key=len, reverse=True):
    _FOLLOWING[_word[0]] = (*_FOLLOWING.get(_word[0], ()), _word)


class _Index:
    """Where the rules' words are in one clause: the longest word that may stand before a name ending at
    each position, where role words start and end, the name elements, and (looked up where asked) where
    words that follow names start."""

    def __init__(self, text: str) -> None:
        self.before_at: dict[int, str] = {}
        self.role_start: dict[int, int] = {}
        self.role_end: set[int] = set()
        self.inside_role: set[int] = set()  # positions strictly inside a role word
        self.text = text
        self.elements: dict[int, int] = {}  # start → the longest element's end
        self.title_start: set[int] = set()
        before_at, role_start = self.before_at, self.role_start
        for last, (word, kinds, length) in _LEXICON.iter(text):
            end = last + 1
            start = end - length
            if kinds & _BEFORE_WORD and length > len(before_at.get(end, "")):
                before_at[end] = word
            if kinds & _ROLE_WORD:
                if role_start.get(start, 0) < length:
                    role_start[start] = length
                if length >= 2:
                    self.role_end.add(end)
                    self.inside_role.update(range(start + 1, end))
            if kinds & _ELEMENT and self.elements.get(start, 0) < end:
                self.elements[start] = end
            if kinds & _TITLE:
                self.title_start.add(start)

    def follows(self, at: int) -> int:
        """The length of the longest word that follows names starting at ``at`` (0: none)."""
        text = self.text
        for word in _FOLLOWING.get(text[at : at + 1], ()):
            if text.startswith(word, at):
                return len(word)
        return 0

    @property
    def follow_start(self) -> dict[int, int]:
        """Where words that follow names start → the longest one's length."""
        return {at: length for at in range(len(self.text)) if (length := self.follows(at))}

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
