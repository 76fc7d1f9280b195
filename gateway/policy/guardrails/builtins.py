"""Built-in detectors (config `check: {builtin: [...]}`): personal data and provider key shapes.

Each is an RE2 pattern with a bounded length plus, where the shape alone would flag too much, a check in
Python on the matched text: Luhn for card numbers, ISO 13616 mod-97 for IBANs, octets for IPv4, the
ranges the SSA never issues for SSNs. Numbers must not run on into more digits (RE2 has no look-around,
so that is checked here too).
"""

from __future__ import annotations

from gateway.policy.guardrails.matcher import Detector, Validator, check_pattern, compile_pattern


def _digit_at(text: str, i: int) -> bool:
    return 0 <= i < len(text) and text[i].isdigit()


def _bounded(text: str, start: int, end: int) -> bool:
    """Not part of a longer number (`1.2.3.4.5`, `4111...1111 9`, a digit run)."""
    if _digit_at(text, start - 1) or _digit_at(text, end):
        return False
    if start >= 2 and text[start - 1] in ".-" and _digit_at(text, start - 2):
        return False
    return not (end + 1 < len(text) and text[end] in ".-" and _digit_at(text, end + 1))


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def luhn(number: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(number)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(text: str, start: int, end: int) -> bool:
    number = _digits(text[start:end])
    return 13 <= len(number) <= 19 and luhn(number) and _bounded(text, start, end)


def iban_valid(iban: str) -> bool:
    """ISO 13616: move the country and check digits to the end, letters become 10..35, mod 97 is 1."""
    s = iban.replace(" ", "").upper()
    if not 15 <= len(s) <= 34 or not s.isascii() or not s.isalnum():
        return False
    # One translate and one big-integer remainder, in C: a prompt of IBAN look-alikes calls this often.
    return int((s[4:] + s[:4]).translate(_IBAN_DIGITS)) % 97 == 1


_IBAN_DIGITS = {ord(c): str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def _iban(text: str, start: int, end: int) -> bool:
    return iban_valid(text[start:end])


def _ssn(text: str, start: int, end: int) -> bool:
    area, group, serial = text[start:end].split("-")
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return _bounded(text, start, end)


def _ipv4(text: str, start: int, end: int) -> bool:
    octets = text[start:end].split(".")
    if any(int(o) > 255 or (len(o) > 1 and o[0] == "0") for o in octets):
        return False
    return _bounded(text, start, end)


def _phone(text: str, start: int, end: int) -> bool:
    """Not one group of a longer run of digit groups (`4111 1111 1111 1112` is not a phone number)."""
    if not _bounded(text, start, end):
        return False
    if start >= 2 and text[start - 1] in " .-" and _digit_at(text, start - 2):
        return False
    return not (end + 1 < len(text) and text[end] in " .-" and _digit_at(text, end + 1))


# A number starts at the text's start or after a character that is not a digit (consumed: RE2 has no
# look-behind; the hit is group 1). A run of digits then offers one candidate, not one per position.
_LEAD = r"(?:^|[^0-9])"
# Dotted and grouped numbers say in the pattern what the validator would refuse anyway (a neighbour
# that continues the run, `1.2.3.4.5`, `555 123 4567 8`), with the boundary characters consumed around
# the hit: a prompt made of such runs then gives RE2 nothing to hand to Python, however long it is.
_IP_LEAD = r"(?:^\.?|[^0-9.]|[^0-9]\.)"
_IP_TAIL = r"(?:$|[^0-9.]|\.$|\.[^0-9])"
_SEP = r"[ .\-]"
_PHONE_LEAD = rf"(?:^{_SEP}?|[^0-9 .\-]|[^0-9]{_SEP})"
_PHONE_TAIL = rf"(?:$|[^0-9 .\-]|{_SEP}$|{_SEP}[^0-9])"
_CARD_LEAD = r"(?:^[ \-]?|[^0-9 \-]|[^0-9][ \-])"
_CARD_TAIL = r"(?:$|[^0-9 \-]|[ \-]$|[ \-][^0-9])"
_GROUPED = frozenset({"phone", "credit_card", "us_ssn", "ipv4"})

# name -> (pattern, validator). Names are what `check: {builtin: [...]}` lists and what a redaction
# says (`[REDACTED:email]`).
_SPECS: dict[str, tuple[str, Validator | None]] = {
    # RFC 5321: at most 254 characters (a 64-character local part, `@`, the domain), and so is the
    # pattern's width (a stream holds back up to a match's width), not the 601 of 8 labels of 63: the
    # domain is one run of labels and dots (at most 164) and a letter TLD (at most 24).
    "email": (
        r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-](?:[A-Za-z0-9.\-]{0,162}[A-Za-z0-9\-])?\.[A-Za-z]{2,24}",
        None,
    ),
    # +1 (555) 123-4567, 555-123-4567, +44 20 7946 0958, 5551234567 (with a + or separators; a bare
    # ten-digit run is a phone number too)
    "phone": (
        _PHONE_LEAD
        + r"((?:\+[1-9][0-9]{0,2}[ .\-]?)?(?:\([0-9]{2,4}\)|[0-9]{2,4})"
        + r"[ .\-]?[0-9]{3,4}[ .\-]?[0-9]{4})"
        + _PHONE_TAIL,
        _phone,
    ),
    # 13 to 19 digits, plain or in groups of four (Amex 4-6-5), not one stretch of a longer run of
    # digit groups; Luhn-valid
    "credit_card": (
        _CARD_LEAD
        + r"([0-9]{13,19}|[0-9]{4}[ \-][0-9]{4}[ \-][0-9]{4}[ \-][0-9]{1,7}"
        + r"|[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{5})"
        + _CARD_TAIL,
        _card,
    ),
    "iban": (r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", _iban),
    "us_ssn": (_LEAD + r"([0-9]{3}-[0-9]{2}-[0-9]{4})", _ssn),
    "ipv4": (_IP_LEAD + r"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})" + _IP_TAIL, _ipv4),
    "anthropic_key": (r"\bsk-ant-[A-Za-z0-9_\-]{20,200}", None),
    "openai_key": (r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,200}", None),
    "aws_key": (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", None),
    "google_key": (r"\bAIza[0-9A-Za-z_\-]{35}", None),
    "github_token": (r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})", None),
}

BUILTINS: tuple[str, ...] = tuple(_SPECS)


def _build() -> dict[str, Detector]:
    out = {}
    for name, (pattern, validator) in _SPECS.items():
        group = 1 if name in _GROUPED else 0
        out[name] = Detector(name, compile_pattern(pattern), check_pattern(pattern), validator, group)
    return out


# Compiled once at import: the builtins are the same for every config.
DETECTORS: dict[str, Detector] = _build()
