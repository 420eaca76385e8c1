"""The second opinion on analyst-readable text (`handover.residual`): another method than the masker's."""

from __future__ import annotations

import pytest
from handover import residual
from handover.validators import luhn_check_digit, resident_id_check_char

ID = "11010519491231002" + resident_id_check_char("11010519491231002")
CARD = "622202123456789012" + luhn_check_digit("622202123456789012")


@pytest.mark.parametrize("text, expected", [
    ("回拨13812345678无人接听", {"phone": 1}),
    ("回拨+86 138-1234-5678", {"phone": 1}),
    ("改留座机021-6234 5678，已更新", {"phone": 1}),
    ("单位电话0512-6752 3300转216", {"phone": 1}),
    ("座机 62345678", {"phone": 1}),
    (f"身份证{ID}已核实", {"identifier": 1}),
    (f"卡号 {CARD}", {"identifier": 1}),
    ("联系邮箱 zhang.wei@example.com", {"identifier": 1}),
    ("转给欧阳娜娜房租", {"name": 1}),
    ("客户王建国说已还款", {"name": 1}),
    ("家属刘芳陪同办理", {"name": 1}),
    ("王芳、李强、赵敏三人到网点", {"name": 3}),
])
def test_what_the_second_opinion_sees(text, expected):
    assert dict(residual.suspicions(text)) == expected


@pytest.mark.parametrize("text", [
    "<姓名>来电，手机<手机号>，身份证<身份证号>", "客户tok_0123456789abcdef来电", "流水号2024031512345678901234",
    "金额12,345.67元，95588回拨", "王先生来电咨询理财", "客户高兴地表示下周再来", "李女士反映排队时间长",
    "老王说周末不方便", "工号A0123受理", "尾号1234的借记卡挂失", "2024-01-05 13:45:00 来电",
    "400-820-8820 转人工", "身份证11010519491231002Y",
])
def test_what_it_does_not_take_for_personal_data(text):
    assert not residual.suspicions(text)


def test_a_column_is_judged_by_its_rate_and_a_small_one_by_its_count():
    clean = ["客户来电咨询理财"] * 990
    verdict = residual.judge(clean + ["回拨13812345678"] * 10, "analytics.interactions.note_masked")
    assert verdict.values == 1000 and verdict.suspected == {"phone": 10}
    assert verdict.over() == {"phone": 0.01} and len(verdict.examples) == 5
    assert residual.judge(clean + ["回拨13812345678"], "x").over() == {}  # 1 in 991: under 0.2 %
    assert residual.judge(["回拨13812345678"] * 2, "x").over() == {"phone": 1.0}
    assert residual.judge(["回拨13812345678"], "x").over() == {}
    assert residual.judge(["回拨13812345678"] * 2, "x").over({**residual.THRESHOLDS, "phone": 1.0}) == {}


def test_the_verdict_names_places_never_values():
    verdict = residual.judge(["回拨13812345678", "转给欧阳娜娜"], "p", where=lambda i: f"line {i + 2}")
    assert verdict.examples == ["line 2", "line 3"]
    assert "13812345678" not in repr(verdict) and "欧阳" not in repr(verdict)
