"""The +86 mobile rule in one place (handover.phones): the validator, the normaliser, the blind index's normal
form, the free-text recognizer and the second-opinion detector agree on every case — a second digit of 0–2
is no mobile anywhere, 3–9 is one everywhere, with or without the country code."""

from __future__ import annotations

import pandas as pd
import pytest
from handover import normalise, phones, residual, validators
from handover.pii import values
from handover.pii.recognizers.phone import MobileRecognizer

MOBILE = MobileRecognizer()

# (as written, the national number or None when it is no mainland mobile)
CASES = [
    ("13812345678", "13812345678"),
    ("+86 138-1234-5678", "13812345678"),
    ("8613812345678", "13812345678"),
    ("008619912345678", "19912345678"),
    ("+86 166 1234 5678", "16612345678"),
    ("14712345678", "14712345678"),
    ("12012345678", None),        # 12x: not allocated
    ("10012345678", None),
    ("+8612345678901", None),
    ("1381234567", None),         # ten digits
    ("138123456789", None),       # twelve
]


@pytest.mark.parametrize(("written", "national"), CASES)
def test_every_reader_of_a_mobile_agrees(written, national):
    clean = normalise.mobile(pd.Series([written], dtype=object)).iloc[0]
    assert validators.is_mobile(clean) is (national is not None)
    if national:
        assert clean == national
        assert values.normalise("CN_MOBILE", written) == national
        assert phones.national(written.replace(" ", "").replace("-", "")) == national
    assert (residual._phone_or_id(written) == "phone") is (national is not None)
    # the free-text recognizer: the number in a note is a mobile exactly when the rule says so
    found = MOBILE.analyze(f"客户手机{written}，已核实", ["CN_MOBILE"])
    assert bool(found) is (national is not None), written


def test_the_rule_is_one_pattern():
    assert phones.MOBILE == "1[3-9][0-9]{9}"
    assert validators.is_mobile("19912345678") and not validators.is_mobile("12912345678")
