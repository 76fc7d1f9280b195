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


def luhn(number: str) -> bool:
    """Every second digit from the right doubled (its digits summed), the total a multiple of 10. In C:
    a slice, a translate to the doubled digits' sums and a sum of bytes (a prompt of card look-alikes
    calls this once per candidate)."""
    doubled = number[-2::-2].translate(_LUHN_DOUBLED)
    return (sum(number[-1::-2].encode()) + sum(doubled.encode()) - 48 * len(number)) % 10 == 0


_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")


def _card(text: str, start: int, end: int) -> bool:
    number = text[start:end]
    if not number.isdigit():  # the pattern's groups: only spaces or dashes between digits
        number = number.replace(" ", "").replace("-", "")
    return 13 <= len(number) <= 19 and luhn(number) and _bounded(text, start, end)


def iban_valid(iban: str) -> bool:
    """ISO 13616: a registered country's length; move the country and check digits to the end, letters
    become 10..35, mod 97 is 1."""
    s = iban.replace(" ", "").upper()
    if IBAN_LENGTHS.get(s[:2]) != len(s) or not s.isascii() or not s.isalnum():
        return False
    # One translate and one big-integer remainder, in C: a prompt of IBAN look-alikes calls this often.
    return int((s[4:] + s[:4]).translate(_IBAN_DIGITS)) % 97 == 1


_IBAN_DIGITS = {ord(c): str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


# The IBAN registry (ISO 13616, SWIFT): country -> length of its IBANs. The pattern only offers a
# candidate of its country's length (in the printed groups of four or compact), so look-alikes of the
# wrong length fail inside RE2 and never reach the checksum in Python.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


_COUNTRY_DIGITS = {c: f"{ord(c[0]) - 55}{ord(c[1]) - 55}" for c in IBAN_LENGTHS}


def _iban_pattern() -> str:
    """Per length, its countries then exactly that many characters: two check digits, then the BBAN
    in groups of four, each optionally after one space (`GB82 WEST 1234 ...` or compact)."""
    by_length: dict[int, list[str]] = {}
    for country, length in sorted(IBAN_LENGTHS.items()):
        by_length.setdefault(length, []).append(country)
    options = []
    for length, countries in sorted(by_length.items()):
        groups, rest = divmod(length - 4, 4)
        bban = f"(?: ?[A-Z0-9]{{4}}){{{groups}}}" + (f" ?[A-Z0-9]{{{rest}}}" if rest else "")
        options.append(f"(?:{'|'.join(countries)})[0-9]{{2}}{bban}")
    return r"\b(?:" + "|".join(options) + r")\b"


def _iban(text: str, start: int, end: int) -> bool:
    # The pattern already holds a registered country's length in upper-case ASCII: the checksum is left.
    # A BBAN of digits only (most countries') needs no translate: the country's digits are known.
    s = text[start:end].replace(" ", "")
    bban = s[4:]
    if not bban.isdigit():
        bban = bban.translate(_IBAN_DIGITS)
    return int(bban + _COUNTRY_DIGITS[s[:2]] + s[2:4]) % 97 == 1


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
# What the validators refuse that a pattern can say, said in the pattern: a prompt of `1.2.3.999` or
# `000-12-3456` then hands Python nothing (the validators still check, for the record).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"  # 0..255, no leading zero
_SSN_AREA = r"(?:00[1-9]|0[1-9][0-9]|[1-5][0-9]{2}|6[0-57-9][0-9]|66[0-57-9]|[78][0-9]{2})"  # not 000/666/9xx
_SSN_GROUP = r"(?:0[1-9]|[1-9][0-9])"
_SSN_SERIAL = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
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
    "iban": (_iban_pattern(), _iban),
    "us_ssn": (_LEAD + rf"({_SSN_AREA}-{_SSN_GROUP}-{_SSN_SERIAL})", _ssn),
    "ipv4": (_IP_LEAD + rf"({_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})" + _IP_TAIL, _ipv4),
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
