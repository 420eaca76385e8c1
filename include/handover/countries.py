"""Countries and nationalities (国籍) as exports write them: 中国, 中华人民共和国, CN, CHN, 156, 美国, USA …

One canonical spelling: the ISO 3166-1 alpha-3 code (``CHN``), which passports and most Chinese core
systems use. The names come from the CLDR data that Babel ships (Chinese and English territory names,
alpha-3 and numeric aliases), so nothing is typed in by hand but the few short forms exports add
(香港, 台湾省 …). Built once, on first use.
"""

from __future__ import annotations

from functools import cache

# Short or older forms branches write beside CLDR's names.
_EXTRA = {
    "中华人民共和国": "CHN", "中国大陆": "CHN", "大陆": "CHN", "内地": "CHN", "中国内地": "CHN",
    "香港": "HKG", "中国香港": "HKG", "香港特别行政区": "HKG",
    "澳门": "MAC", "中国澳门": "MAC", "澳门特别行政区": "MAC",
    "台湾": "TWN", "中国台湾": "TWN", "台湾省": "TWN", "台湾地区": "TWN",
    "美利坚合众国": "USA", "英国": "GBR", "大不列颠及北爱尔兰联合王国": "GBR", "韩国": "KOR", "南韩": "KOR",
    "朝鲜": "PRK", "北韩": "PRK", "俄罗斯": "RUS", "俄罗斯联邦": "RUS", "越南": "VNM",
}


# CLDR also lists withdrawn alpha-3 codes (East Germany, Burma, Zaire …) and codes that are no country.
_WITHDRAWN = frozenset({"DDR", "BUR", "ZAR", "FXX", "TMP", "YMD"})
_NOT_COUNTRIES = frozenset({"AA", "QM", "EU", "XK", "XX", "ZZ"})


@cache
def _table() -> tuple[dict[str, str], frozenset[str]]:
    from babel import Locale
    from babel.core import get_global

    aliases = get_global("territory_aliases")
    to_alpha3: dict[str, str] = {}
    for code, targets in aliases.items():
        if len(code) == 3 and code.isalpha() and len(targets) == 1 and len(targets[0]) == 2 \
                and code not in _WITHDRAWN and targets[0] not in _NOT_COUNTRIES:
            to_alpha3.setdefault(targets[0], code)
    names: dict[str, str] = {}
    for alpha2, alpha3 in to_alpha3.items():
        names[alpha2.lower()] = names[alpha3.lower()] = alpha3
    for code, targets in aliases.items():  # numeric codes (156 → CN)
        if code.isdigit() and len(targets) == 1 and targets[0] in to_alpha3:
            names[code] = to_alpha3[targets[0]]
    for locale in ("zh_Hans_CN", "zh_Hant_TW", "en"):
        for alpha2, name in Locale.parse(locale).territories.items():
            if alpha2 in to_alpha3:
                names.setdefault(name.lower(), to_alpha3[alpha2])
    names.update({k.lower(): v for k, v in _EXTRA.items()})
    return names, frozenset(to_alpha3.values())


def country_code(text: str) -> str:
    """The alpha-3 code for a spelling of a country (case-insensitive), or the text as it was."""
    names, _ = _table()
    return names.get(text.strip().lower(), text)


def is_country(value: str | None) -> bool:
    """True for an ISO 3166-1 alpha-3 code."""
    return isinstance(value, str) and value in _table()[1]
