"""PII masking: mainland mobile numbers, 18-digit ID numbers, e-mail addresses, bank cards.

ID numbers are masked only when their ISO 7064 MOD 11-2 check digit and
birth date are valid, bank cards only when they pass the Luhn check, so long
order numbers are left alone. Placeholders contain no digits, so masking can
never create a new number by joining digits around it.
"""

from __future__ import annotations

import re
from datetime import date

PLACEHOLDERS = {"email": "[邮箱]", "id_card": "[身份证号]", "bank_card": "[银行卡号]", "phone": "[手机号]"}
_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))


def strip_placeholders(text: str) -> str:
    """``text`` without PII placeholders, for analysis: 手机号 or 银行卡 inside ``[手机号]`` are not what the
    customer wrote about (no ordering_payment mention, no sentiment of phone reviews, no keyword). The stored
    and displayed text keeps them."""
    return _PLACEHOLDER_RE.sub("", text) if "[" in text else text

# A local part starts where its run of allowed characters starts (and has at most 64 of them, as in RFC 5321):
# one attempt per run, so long runs of letters or digits cost linear time.
EMAIL_RE = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
# 18 characters, also written in groups with single spaces or dashes (110101 19900307 7774, 110101 1990 0307 7774)
# Both are searched as lookaheads, so a candidate is tried at every start: a grouped number that fails its
# check (the tail of a phone number plus the ID's first groups) must not hide the real ID that follows it.
ID_RE = re.compile(r"(?<![0-9A-Za-z])(?=(\d(?:[ -]?\d){16}[ -]?[\dXx])(?![0-9A-Za-z]))")
# 16-19 digits, optionally grouped by single spaces or dashes.
CARD_RE = re.compile(r"(?<![\d-])(?=(\d(?:[ -]?\d){15,18})(?![\d]))")
PHONE_RE = re.compile(r"(?<![\d+])((?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2})(?!\d)")
# Quick gate: nothing to mask unless the text has a run of 7+ digits/separators or an @.
_GATE = re.compile(r"@|\d[\d -]{6,}")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of an ID number."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def is_valid_id_card(s: str) -> bool:
    """True for an 18-character mainland ID number with a valid birth date and check digit."""
    if len(s) != 18 or not s[:17].isdigit() or not (s[17].isdigit() or s[17] in "xX"):
        return False
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if not (1900 <= born.year <= 2100):
        return False
    return id_check_digit(s[:17]) == s[17].upper()


def luhn_ok(digits: str) -> bool:
    """Luhn checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_bank_card(s: str) -> bool:
    """True for 16-19 digits (separators ignored) with a card-network prefix and a valid Luhn check."""
    digits = re.sub(r"[ -]", "", s)
    return 16 <= len(digits) <= 19 and digits.isdigit() and digits[0] in "3456" and luhn_ok(digits)


def mask_pii(text: str, phone: bool = True, id_card: bool = True, email: bool = True,
             bank_card: bool = True) -> tuple[str, list[str]]:
    """Mask personal data in ``text``.

    Returns
    -------
    masked : the text with each item replaced by a placeholder such as ``[手机号]``.
    kinds : the kinds found, in order of first occurrence (``phone``, ``id_card``, ...).
    """
    if not text or not _GATE.search(text):
        return text, []
    found: list[str] = []

    def sub(pattern: re.Pattern, kind: str, valid=None):
        nonlocal text

        def repl(m: re.Match) -> str:
            if valid is not None and not valid(m.group(1)):
                return m.group(0)
            if kind not in found:
                found.append(kind)
            return PLACEHOLDERS[kind]

        text = pattern.sub(repl, text)

    def sub_checked(scan: re.Pattern, kind: str, valid):
        """Mask the valid candidates of a lookahead pattern, leftmost first, without overlaps."""
        nonlocal text
        spans, end = [], -1
        for m in scan.finditer(text):
            if m.start(1) >= end and valid(m.group(1)):
                spans.append((m.start(1), m.end(1)))
                end = m.end(1)
        if spans:
            if kind not in found:
                found.append(kind)
            parts, last = [], 0
            for a, b in spans:
                parts += [text[last:a], PLACEHOLDERS[kind]]
                last = b
            text = "".join(parts) + text[last:]

    if email and "@" in text:  # the e-mail pattern is slow on long digit runs: only where it can match
        sub(EMAIL_RE, "email")
    if id_card:
        sub_checked(ID_RE, "id_card", lambda s: is_valid_id_card(s.replace(" ", "").replace("-", "")))
    if bank_card:
        sub_checked(CARD_RE, "bank_card", is_bank_card)
    if phone:
        sub(PHONE_RE, "phone")
    return text, found


def masked_cells(cells, limit: int | None = None) -> str:
    """``cells`` joined with ``", "`` for an error message, each with personal data masked: a "header" that
    is really a data row (a wrong ``input.header_row``, a file without a header) must not print a customer's
    phone number. At most ``limit`` cells, then ``…``."""
    cells = [str(c) for c in cells]
    shown = [mask_pii(c)[0] for c in (cells if limit is None else cells[:limit])]
    return ", ".join(shown) + (" …" if limit is not None and len(cells) > limit else "")
