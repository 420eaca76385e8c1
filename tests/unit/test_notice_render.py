"""The transfer notice's texts: every fact PIPL Art. 17 and 22 ask for, in Chinese, from one template folder;
the HTML escaped, SMS counted as carriers bill it, no customer named where the text is public."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from handover.contract import load_contract
from handover.notices import render
from handover.notices.render import NoticeError, NoticeFacts, sms_segments

DAY = dt.date(2026, 12, 2)


@pytest.fixture(scope="module")
def facts(sample_contract) -> NoticeFacts:
    return NoticeFacts.of(load_contract(sample_contract), DAY)


@pytest.mark.parametrize("text, segments", [
    ("", 1), ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("{" * 80, 1), ("{" * 81, 2),  # the GSM extension table counts two
    ("中" * 70, 1), ("中" * 71, 2), ("中" * 134, 2), ("中" * 135, 3),  # UCS-2: 70, then 67 a segment
    ("a" * 69 + "中", 1), ("😀" * 35, 1), ("😀" * 36, 2),  # beyond the BMP: two UTF-16 units each
])
def test_sms_segments_count_as_carriers_bill(text, segments):
    assert sms_segments(text) == segments


def test_every_notice_says_what_the_law_asks(facts):
    subject, text, html = render.email(facts, "TZ7")
    letter = render.letter(facts, "TZ7", "张三", "上海市浦东新区某路1号")
    public = render.announcement(facts, 12)
    party, notice = facts.party, facts.notice
    wanted = [party.name, party.address, party.phone, party.email, party.pi_contact.email, notice.retention,
              *notice.purposes, *notice.methods, *notice.categories, *notice.rights.values(), "2027年1月1日"]
    for body in (text, letter, public):
        missing = [w for w in wanted if w not in body]
        assert not missing, missing
    assert "TZ7" in subject and "TZ7" in text and "张三" in letter and "共12位" in public
    assert all(w.replace("“", "&#8220;") in html or w in html for w in wanted)


def test_the_sms_names_the_recipient_its_phone_and_the_deadline_in_few_segments(facts):
    text = render.sms(facts, "TZ123")
    assert facts.party.name in text and facts.party.phone in text and "2027年1月1日" in text and "反对" in text
    assert sms_segments(text) <= 3


def test_html_escapes_the_contract_values_text_parts_keep_them(facts):
    odd = dataclasses.replace(facts, party=dataclasses.replace(facts.party, name="<b>银行</b> & Co"))
    _, text, html = render.email(odd, "TZ1")
    assert "&lt;b&gt;银行&lt;/b&gt; &amp; Co" in html and "<b>银行" not in html
    assert "<b>银行</b> & Co" in text


def test_control_characters_never_reach_a_text(facts):
    odd = dataclasses.replace(facts, branch_name="浦东\x1b[31m支行\x07")
    assert "\x1b" not in render.sms(odd, "TZ1") and "\x07" not in render.email(odd, "TZ1")[1]


def test_an_sms_too_long_stops_before_anything_is_sent(facts):
    long = dataclasses.replace(facts, branch_name="很长的支行名称" * 30)
    with pytest.raises(NoticeError, match="segments, over 4"):
        render.sms(long, "TZ1")


def test_a_contract_without_a_notice_section_says_what_to_add(sample_contract):
    contract = dataclasses.replace(load_contract(sample_contract), notice=None)
    with pytest.raises(NoticeError, match="has no notice section"):
        NoticeFacts.of(contract, DAY)


def test_a_confirmation_of_a_changed_contact_says_neither_value_and_fits_two_segments(facts):
    for role in render.ROLES:
        text = render.confirmation_sms(facts, "BG7", "mobile", role)
        assert "如非本人操作" in text and facts.party.phone in text and sms_segments(text) <= 2
        subject, plain, html = render.confirmation_email(facts, "BG8", "email", role)
        assert "电子邮箱" in subject and "BG8" in plain and "<strong>" in html
    assert "不再接收" in render.confirmation_sms(facts, "BG7", "mobile", "old")
    with pytest.raises(NoticeError):
        render.confirmation_sms(facts, "BG7", "address", "old")
