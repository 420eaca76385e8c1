"""The recognizers, one domain rule per module; :func:`standard_recognizers` lists the fixed set."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from handover.pii.recognizers.address import AddressRecognizer
from handover.pii.recognizers.bank_card import BankCardRecognizer
from handover.pii.recognizers.email import EmailRecognizer
from handover.pii.recognizers.licence_plate import LicencePlateRecognizer
from handover.pii.recognizers.names import NameRecognizer
from handover.pii.recognizers.person import CustomerNameRecognizer
from handover.pii.recognizers.phone import LandlineRecognizer, LocalMobileRecognizer, MobileRecognizer
from handover.pii.recognizers.regional_id import RegionalIdRecognizer
from handover.pii.recognizers.resident_id import ResidentIdRecognizer
from handover.pii.recognizers.travel_documents import (
    PassportRecognizer,
    TaiwanCompatriotPermitRecognizer,
    TravelPermitRecognizer,
)
from handover.pii.recognizers.uscc import UsccRecognizer

ENTITIES = (
    "CN_RESIDENT_ID",
    "CN_REGIONAL_ID",
    "CN_USCC",
    "BANK_CARD",
    "CN_MOBILE",
    "CN_LANDLINE",
    "EMAIL_ADDRESS",
    "CN_PASSPORT",
    "CN_TRAVEL_PERMIT",
    "CN_ADDRESS",
    "PERSON",
    "CN_LICENCE_PLATE",
)

__all__ = [
    "ENTITIES",
    "AddressRecognizer",
    "BankCardRecognizer",
    "CustomerNameRecognizer",
    "EmailRecognizer",
    "LandlineRecognizer",
    "LicencePlateRecognizer",
    "LocalMobileRecognizer",
    "MobileRecognizer",
    "NameRecognizer",
    "PassportRecognizer",
    "RegionalIdRecognizer",
    "ResidentIdRecognizer",
    "TaiwanCompatriotPermitRecognizer",
    "TravelPermitRecognizer",
    "UsccRecognizer",
    "standard_recognizers",
]


def standard_recognizers() -> list[EntityRecognizer]:
    """A fresh instance of every recognizer that needs no caller data (all but the customer names)."""
    return [
        ResidentIdRecognizer(),
        RegionalIdRecognizer(),
        UsccRecognizer(),
        BankCardRecognizer(),
        MobileRecognizer(),
        LandlineRecognizer(),
        LocalMobileRecognizer(),
        EmailRecognizer(),
        PassportRecognizer(),
        TravelPermitRecognizer(),
        TaiwanCompatriotPermitRecognizer(),
        AddressRecognizer(),
        NameRecognizer(),
        LicencePlateRecognizer(),
    ]
