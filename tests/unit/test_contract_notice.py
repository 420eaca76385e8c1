"""The contract's notice section (PIPL Art. 17, 22): what every customer is told, and the receiving party's
contacts it needs — each mistake named by its place, and a contract without a notice still loads."""

from __future__ import annotations

import pytest
from handover.contract import RIGHTS, load_contract
from handover.errors import ContractError

from tests.support.contracts import contract_variant as _variant


def test_sample_contract_says_what_customers_are_told(sample_contract):
    contract = load_contract(sample_contract)
    notice, party = contract.notice, contract.receiving_party
    assert notice is not None and notice.purposes and notice.methods and notice.categories and notice.retention
    assert set(notice.rights) == set(RIGHTS) and all(notice.rights.values())
    assert str(notice.respond_within) == "30d" and notice.channels == ("sms", "email", "letter")
    assert party.address and party.phone and party.email and party.pi_contact.email
    summary = contract.summary()["receiving_party"]
    assert summary["pi_contact"]["email"] == party.pi_contact.email  # the manifest names the contacts too


def test_a_contract_without_a_notice_loads_and_has_none(sample_contract, tmp_path):
    def without(d):
        d.pop("notice")
        for key in ("address", "phone", "email", "pi_contact"):
            d["transfer"]["receiving_party"].pop(key)

    contract = load_contract(_variant(sample_contract, tmp_path, without))
    assert contract.notice is None
    assert contract.summary()["receiving_party"] == {"name": "示例村镇银行有限公司", "uscc": "91310115MA1H7GXP4G"}


@pytest.mark.parametrize("change, place", [
    (lambda d: d["transfer"]["receiving_party"].pop("address"),
     "transfer.receiving_party.address: is missing: a notice must tell customers its address (PIPL Art. 22)"),
    (lambda d: d["transfer"]["receiving_party"].pop("pi_contact"),
     "transfer.receiving_party.pi_contact: is missing"),
    (lambda d: d["transfer"]["receiving_party"].update(email="service at bank"),
     "transfer.receiving_party.email: is not an e-mail address"),
    (lambda d: d["transfer"]["receiving_party"].update(phone="call us"),
     "transfer.receiving_party.phone: a telephone number"),
    (lambda d: d["transfer"]["receiving_party"]["pi_contact"].update(phone=None, email=None),
     "transfer.receiving_party.pi_contact: give a phone or an e-mail"),
    (lambda d: d["transfer"]["receiving_party"].update(fax="021"), "transfer.receiving_party.fax: unknown key"),
    (lambda d: d["notice"].pop("purposes"), "notice.purposes: is missing"),
    (lambda d: d["notice"].update(categories=[1, 2]), "notice.categories: a text or a list of texts"),
    (lambda d: d["notice"].pop("retention"), "notice.retention: is missing"),
    (lambda d: d["notice"]["rights"].pop("withdraw"), "notice.rights.withdraw: is missing"),
    (lambda d: d["notice"]["rights"].update(complain="…"), "notice.rights.complain: unknown right"),
    (lambda d: d["notice"].update(respond_within="soon"), "notice.respond_within: the time customers have"),
    (lambda d: d["notice"].update(channels=["sms", "pigeon"]), "notice.channels: a list of channels"),
    (lambda d: d["notice"].update(colour="red"), "notice.colour: unknown key"),
])
def test_notice_mistakes_name_their_place(sample_contract, tmp_path, change, place):
    with pytest.raises(ContractError) as err:
        load_contract(_variant(sample_contract, tmp_path, change))
    assert place in str(err.value)
