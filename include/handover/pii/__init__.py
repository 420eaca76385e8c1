"""Finding Chinese PII in free text (notes, remarks, interaction logs) with Presidio.

The analytics tier keeps free text only after Presidio has masked it. This package holds the first step:
the recognizers and an analyzer built on a Chinese spaCy pipeline made in code (``spacy.blank("zh")``
with the jieba segmenter), so nothing is ever downloaded. :func:`analyzer` builds the engine (language
``"zh"``, our recognizers only); :func:`scan` returns ``(entity, start, end, score)`` tuples.

Entity names (one convention: ``CN_`` for identifiers and formats that are specific to China, Presidio's
own names where Presidio already has one):

=================== ===================================================================================
``CN_RESIDENT_ID``  居民身份证号码 (GB 11643) and the HK/Macau/Taiwan residents' residence permits
                    (address codes 810000/820000/830000); checksum, province code and birth date checked
``CN_USCC``         统一社会信用代码 (GB 32100), MOD 31 check character
``BANK_CARD``       16–19 digit card number, optionally in groups of four, Luhn-checked
``CN_MOBILE``       mainland mobile, optional +86/0086, separators 138-1234-5678 / 138 1234 5678
``CN_LANDLINE``     area code 0xx/0xxx (or +86 without the 0), optional dash, optional extension
``EMAIL_ADDRESS``   e-mail address
``CN_PASSPORT``     E/G + 8 digits, E + letter + 7 digits, SE/DE/PE + 7 digits, HK K + 8, Macau MA + 7
``CN_TRAVEL_PERMIT`` home-return permits H/M + 8 or 10 digits, exit-entry permits C + 8, L + 8 (Taiwan)
``CN_ADDRESS``      province/city name or a …市/区/县 token running through road, number, building,
                    unit and room parts
``PERSON``          jieba ``nr`` words, the caller's customer names (deny list), surname + given name
``CN_LICENCE_PLATE`` province abbreviation + letter + 5 characters; new-energy + 6
=================== ===================================================================================

Step 2 protects what was found: :mod:`~handover.pii.operators` (the operators — encrypt, pseudonymize,
mask, generalize, redact, replace — as Presidio operators, and the tag table <手机号>),
:mod:`~handover.pii.policy` (which operator for which column or entity), :mod:`~handover.pii.anonymize`
(:func:`apply_column` over a whole Arrow column, :func:`anonymize_text` for free text) and
:mod:`~handover.pii.classify` (``pii: auto`` decided by sampling).

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
