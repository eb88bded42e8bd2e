"""PII masking: examples and properties (hypothesis)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from voc.text.pii import (CARD_RE, ID_RE, PHONE_RE, id_check_digit, is_bank_card, is_valid_id_card, luhn_ok,
                          mask_pii)


def make_id(region="110101", born="19900307", seq="123"):
    first = region + born + seq
    return first + id_check_digit(first)


def make_card(prefix="622202", n=16):
    body = prefix + "0" * (n - len(prefix) - 1)
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d


def test_examples():
    idn, card = make_id(), make_card()
    text = f"电话13812345678，身份证{idn}，邮箱 zhang.san@example.com，卡号{card}，订单号202605031234567890"
    masked, kinds = mask_pii(text)
    assert masked == ("电话[手机号]，身份证[身份证号]，邮箱 [邮箱]，卡号[银行卡号]，订单号202605031234567890")
    assert kinds == ["email", "id_card", "bank_card", "phone"]


def test_phone_variants_and_non_phones():
    for p in ("+86 139 1234 5678", "138-1234-5678", "86 13912345678", "15012345678"):
        assert mask_pii(f"打{p}找我")[0] == "打[手机号]找我", p
    for not_phone in ("12012345678", "1381234567", "138123456789", "订单23813812345678"):
        assert mask_pii(not_phone)[1] == [], not_phone


def test_id_checksum_and_date_are_required():
    good = make_id()
    assert is_valid_id_card(good)
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    assert not is_valid_id_card(bad_check)
    assert not is_valid_id_card(make_id(born="19901345"))
    assert mask_pii(f"号码{bad_check}")[1] == []
    with_x = next(i for i in (make_id(seq=f"{s:03d}") for s in range(1000)) if i.endswith("X"))
    assert mask_pii(f"号码{with_x.lower()}。")[0] == "号码[身份证号]。"
    # written in the card's 6-8-4 groups
    for sep in (" ", "-"):
        spaced = sep.join((good[:6], good[6:14], good[14:]))
        assert mask_pii(f"身份证 {spaced} 请核对") == ("身份证 [身份证号] 请核对", ["id_card"])
    for grouped in (" ".join((good[:6], good[6:10], good[10:14], good[14:])), f"{good[:6]}-{good[6:14]} {good[14:]}"):
        assert mask_pii(f"身份证{grouped}")[0] == "身份证[身份证号]"
    # a failed candidate that starts on earlier digits must not hide the ID after it
    spaced = " ".join((good[:6], good[6:14], good[14:]))
    assert mask_pii(f"电话 138 0013 8000 {spaced}")[0] == "电话 [手机号] [身份证号]"
    assert mask_pii(f"订单 12 34 {spaced}")[0] == "订单 12 34 [身份证号]"


def test_bank_card_luhn_and_prefix():
    card = make_card()
    assert is_bank_card(card) and is_bank_card(" ".join([card[:4], card[4:8], card[8:12], card[12:]]))
    assert not is_bank_card(card[:-1] + str((int(card[-1]) + 1) % 10))
    assert not is_bank_card("1" + card[1:])  # no card network starts with 1


def test_toggles():
    masked, kinds = mask_pii("13812345678 a@b.cn", phone=False)
    assert masked == "13812345678 [邮箱]" and kinds == ["email"]


def _valid_leftovers(text: str) -> list[str]:
    found = [m.group(1) for m in PHONE_RE.finditer(text)]
    found += [m.group(1) for m in ID_RE.finditer(text) if is_valid_id_card(m.group(1))]
    found += [m.group(1) for m in CARD_RE.finditer(text) if is_bank_card(m.group(1))]
    return found


phones = st.builds(lambda a, b: f"1{a}{b:09d}", st.sampled_from("3456789"), st.integers(0, 999_999_999))
ids = st.builds(lambda r, y, m, d, s: make_id(f"{r:06d}", f"{y}{m:02d}{d:02d}", f"{s:03d}"),
                st.integers(110000, 659999), st.integers(1940, 2010), st.integers(1, 12), st.integers(1, 28),
                st.integers(0, 999))
filler = st.text(alphabet=st.sampled_from(list("送餐很快房间干净 ，。abc@.-+0123456789")), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(filler, st.one_of(phones, ids)), min_size=1, max_size=4), filler)
def test_masked_output_never_contains_a_valid_phone_or_id(parts, tail):
    text = "".join(f"{f} {pii} " for f, pii in parts) + tail
    masked, _ = mask_pii(text)
    assert _valid_leftovers(masked) == []
    for _, pii in parts:
        assert pii not in masked


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_masking_is_idempotent_and_leaves_nothing(text):
    once, _ = mask_pii(text)
    assert mask_pii(once)[0] == once
    assert _valid_leftovers(once) == []
    if not re.search(r"\d|@", text):
        assert once == text
