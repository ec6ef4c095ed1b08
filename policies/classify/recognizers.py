"""Presidio recognizers for Chinese identifiers, their checksums, and column-name hints.

Every recognizer here is a plain Presidio `PatternRecognizer`, registered the way an extension would
register its own (`all_recognizers`). Where a format carries a check character the recognizer
validates it, so a string that merely looks like an identifier is dropped rather than reported:

>>> valid_resident_id("11010519491231002X"), valid_resident_id("11010519491231003X")
(True, False)

Patterns use ASCII-alphanumeric look-arounds instead of `\\b`, because Python counts Chinese
characters as word characters: "电话13812345678" must still match. The analyzer compiles patterns
case-insensitively, so validators reject lower-case letters themselves.

The checksum arithmetic lives here once; `sandbox.demo_data` generates valid identifiers with
`resident_id_check_char` and `uscc_check_char`.
"""

from __future__ import annotations

import re
from datetime import date

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import EmailRecognizer, IpRecognizer
from tldextract import TLDExtract

CN_RESIDENT_ID = "CN_RESIDENT_ID"
CN_MOBILE = "CN_MOBILE"
BANK_CARD = "BANK_CARD"
CN_USCC = "CN_USCC"
CN_PASSPORT = "CN_PASSPORT"
CN_VEHICLE_PLATE = "CN_VEHICLE_PLATE"
EMAIL_ADDRESS = "EMAIL_ADDRESS"
IP_ADDRESS = "IP_ADDRESS"
# Hint-only entities: no pattern finds them reliably in values (a blank NLP pipeline has no NER).
PERSON_NAME = "PERSON_NAME"
ADDRESS = "ADDRESS"
FREE_TEXT = "FREE_TEXT"

# Entities some recognizer in `all_recognizers` can find in a value.
DETECTED_ENTITIES: tuple[str, ...] = (
    CN_RESIDENT_ID,
    CN_MOBILE,
    BANK_CARD,
    CN_USCC,
    CN_PASSPORT,
    CN_VEHICLE_PLATE,
    EMAIL_ADDRESS,
    IP_ADDRESS,
)
ALL_ENTITIES: tuple[str, ...] = (*DETECTED_ENTITIES, PERSON_NAME, ADDRESS, FREE_TEXT)
# Identifiers of a person or enterprise: usable as a keyed-hash join key, never shown.
JOIN_KEY_ENTITIES: frozenset[str] = frozenset({CN_RESIDENT_ID, CN_USCC})

_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"

# --- checksums --------------------------------------------------------------------------------

RESIDENT_ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum) mod 11 (ISO 7064 MOD 11-2)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, Z, S, V
USCC_WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}


def resident_id_check_char(first17: str) -> str:
    """The 18th character of a resident ID (GB 11643-1999) from its first 17 digits.

    >>> resident_id_check_char("11010519491231002")
    'X'
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("a resident ID body is 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def _plausible_birth_date(yyyymmdd: str) -> bool:
    year, month, day = int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:])
    if not 1900 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def valid_resident_id(s: str) -> bool:
    """True for an 18-character resident ID with a real birth date and a correct check character.

    >>> valid_resident_id("11010519491231002X"), valid_resident_id("11010519490231002X")
    (True, False)
    """
    if len(s) != 18 or not s.isascii() or not s[:17].isdigit():
        return False
    if not (s[17].isdigit() or s[17] == "X"):
        return False
    return _plausible_birth_date(s[6:14]) and resident_id_check_char(s[:17]) == s[17]


def luhn_valid(s: str) -> bool:
    """Luhn (mod 10) check over a string of digits, as on bank cards.

    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    if not s or not s.isascii() or not s.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body + digit` pass `luhn_valid`.

    >>> luhn_check_digit("411111111111111")
    '1'
    """
    return str((10 - _luhn_partial(body)) % 10)


def _luhn_partial(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015).

    >>> uscc_check_char("91350100M000100Y4")
    '3'
    """
    if len(first17) != 17 or any(c not in _USCC_VALUE for c in first17):
        raise ValueError("a credit code body is 17 characters of the USCC alphabet")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def valid_uscc(s: str) -> bool:
    """True for an 18-character unified social credit code with a correct check character.

    >>> valid_uscc("91350100M000100Y43"), valid_uscc("91350100M000100Y44")
    (True, False)
    """
    if len(s) != 18 or any(c not in _USCC_VALUE for c in s):
        return False
    return uscc_check_char(s[:17]) == s[17]


# --- recognizers --------------------------------------------------------------------------------


class _ChinaPatternRecognizer(PatternRecognizer):
    """One regex, one entity; subclasses set the class attributes and may validate."""

    ENTITY: str = ""
    REGEX: str = ""
    SCORE: float = 0.5
    CONTEXT_WORDS: tuple[str, ...] = ()

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            name=type(self).__name__,
            patterns=[Pattern(self.ENTITY.lower(), self.REGEX, self.SCORE)],
            context=list(self.CONTEXT_WORDS),
            supported_language=supported_language,
        )


class ResidentIdRecognizer(_ChinaPatternRecognizer):
    """居民身份证号码: 17 digits and a check character; the birth date must exist."""

    ENTITY = CN_RESIDENT_ID
    REGEX = _NOT_ALNUM_BEFORE + r"\d{17}[\dX]" + _NOT_ALNUM_AFTER
    SCORE = 0.3
    CONTEXT_WORDS = ("身份证", "证件", "id", "identity")

    def validate_result(self, pattern_text: str) -> bool:
        return valid_resident_id(pattern_text.upper())  # a lower-case x is still someone's ID


class MobileRecognizer(_ChinaPatternRecognizer):
    """中国大陆手机号: 1[3-9] and 9 more digits, optionally +86 / 86 / 0086 and - or space groups."""

    ENTITY = CN_MOBILE
    REGEX = _NOT_ALNUM_BEFORE + r"(?:(?:\+|00)?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}" + _NOT_ALNUM_AFTER
    SCORE = 0.5
    CONTEXT_WORDS = ("手机", "电话", "phone", "mobile", "tel")


class BankCardRecognizer(_ChinaPatternRecognizer):
    """银行卡号: 16 to 19 digits passing Luhn. A valid resident ID is not also reported as a card."""

    ENTITY = BANK_CARD
    REGEX = _NOT_ALNUM_BEFORE + r"\d{16,19}" + _NOT_ALNUM_AFTER
    SCORE = 0.3
    CONTEXT_WORDS = ("银行卡", "卡号", "card")

    def validate_result(self, pattern_text: str) -> bool:
        return luhn_valid(pattern_text) and not valid_resident_id(pattern_text)


class UsccRecognizer(_ChinaPatternRecognizer):
    """统一社会信用代码: 18 characters with a GB 32100-2015 check character."""

    ENTITY = CN_USCC
    REGEX = _NOT_ALNUM_BEFORE + r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}" + _NOT_ALNUM_AFTER
    SCORE = 0.3
    CONTEXT_WORDS = ("信用代码", "uscc", "credit")

    def validate_result(self, pattern_text: str) -> bool:
        code = pattern_text.upper()
        return valid_uscc(code) and not valid_resident_id(code)


class PassportRecognizer(_ChinaPatternRecognizer):
    """中国护照: E/G/D/S/P and 8 digits, or E, a letter and 7 digits. No checksum: modest score."""

    ENTITY = CN_PASSPORT
    REGEX = _NOT_ALNUM_BEFORE + r"(?:[EGDSP]\d{8}|E[A-HJ-NP-Z]\d{7})" + _NOT_ALNUM_AFTER
    SCORE = 0.4
    CONTEXT_WORDS = ("护照", "passport")

    def invalidate_result(self, pattern_text: str) -> bool:
        return pattern_text != pattern_text.upper()


_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


class VehiclePlateRecognizer(_ChinaPatternRecognizer):
    """机动车号牌: province, issuing-office letter, 5 letters or digits (6 on new-energy plates)."""

    ENTITY = CN_VEHICLE_PLATE
    REGEX = f"[{_PROVINCES}][A-HJ-NP-Z][·• -]?[A-HJ-NP-Z0-9]{{5,6}}" + _NOT_ALNUM_AFTER
    SCORE = 0.5
    CONTEXT_WORDS = ("车牌", "plate")

    def invalidate_result(self, pattern_text: str) -> bool:
        return pattern_text != pattern_text.upper()


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's email recognizer, validating the domain against tldextract's bundled suffix list.

    The stock validator calls `tldextract.extract`, which fetches the public suffix list over the
    network and caches it under the home directory; inside the domain there is no network.
    """

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_language=supported_language)
        self._tld = TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)

    def validate_result(self, pattern_text: str) -> bool:
        return self._tld(pattern_text).fqdn != ""


def all_recognizers(language: str) -> list[EntityRecognizer]:
    """Fresh instances of every recognizer, for one analyzer language.

    Email and IP come from Presidio; the IP recognizer drops matches `ipaddress` rejects.
    """
    return [
        ResidentIdRecognizer(supported_language=language),
        MobileRecognizer(supported_language=language),
        BankCardRecognizer(supported_language=language),
        UsccRecognizer(supported_language=language),
        PassportRecognizer(supported_language=language),
        VehiclePlateRecognizer(supported_language=language),
        OfflineEmailRecognizer(supported_language=language),
        IpRecognizer(supported_language=language),
    ]


# --- column-name hints -----------------------------------------------------------------------------

# Chinese has no word boundaries: a hint matches as a substring ("身份证号码" holds "身份证").
_CHINESE_HINTS: tuple[tuple[str, str], ...] = (
    ("身份证", CN_RESIDENT_ID),
    ("证件号", CN_RESIDENT_ID),
    ("信用代码", CN_USCC),
    ("银行卡", BANK_CARD),
    ("卡号", BANK_CARD),
    ("护照", CN_PASSPORT),
    ("车牌", CN_VEHICLE_PLATE),
    ("手机", CN_MOBILE),
    ("电话", CN_MOBILE),
    ("邮箱", EMAIL_ADDRESS),
    ("地址", ADDRESS),
    ("住址", ADDRESS),
    ("姓名", PERSON_NAME),
    ("名字", PERSON_NAME),
    ("联系人", PERSON_NAME),
    ("备注", FREE_TEXT),
)

# English hints match whole words of the name split at _, -, spaces, dots and camelCase humps, so
# "hotel" is not "tel" and "address" in "email_address" loses to the earlier, narrower email hint.
_ENGLISH_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("id", "card"), CN_RESIDENT_ID),
    (("idcard",), CN_RESIDENT_ID),
    (("resident", "id"), CN_RESIDENT_ID),
    (("id", "number"), CN_RESIDENT_ID),
    (("id", "no"), CN_RESIDENT_ID),
    (("uscc",), CN_USCC),
    (("credit", "code"), CN_USCC),
    (("bank", "card"), BANK_CARD),
    (("card", "no"), BANK_CARD),
    (("card", "number"), BANK_CARD),
    (("passport",), CN_PASSPORT),
    (("plate",), CN_VEHICLE_PLATE),
    (("phone",), CN_MOBILE),
    (("mobile",), CN_MOBILE),
    (("tel",), CN_MOBILE),
    (("telephone",), CN_MOBILE),
    (("email",), EMAIL_ADDRESS),
    (("e", "mail"), EMAIL_ADDRESS),
    (("ip",), IP_ADDRESS),
    (("address",), ADDRESS),
    (("notes",), FREE_TEXT),
    (("note",), FREE_TEXT),
    (("remark",), FREE_TEXT),
    (("remarks",), FREE_TEXT),
    (("comment",), FREE_TEXT),
    (("comments",), FREE_TEXT),
)

# "name" alone, or after one of these words, names a person; "district_name" or "company_name" names
# a place or an organisation and gets no hint (its values decide).
_PERSON_WORDS = (
    frozenset(
        {"full", "first", "last", "given", "family", "middle", "sur", "nick", "real", "legal", "person"}
    )
    | {"resident", "citizen", "user", "customer", "patient", "contact", "owner", "applicant", "holder"}
    | {"member", "employee", "student"}
)
_PERSON_TOKENS = frozenset({"fullname", "firstname", "lastname", "surname", "username", "nickname"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^0-9a-z]+")


def _words(column_name: str) -> list[str]:
    return [w for w in _SPLIT.split(_CAMEL.sub("_", column_name).lower()) if w]


def _contains(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i : i + n]) == phrase for i in range(len(words) - n + 1))


def name_hint(column_name: str) -> str | None:
    """The entity a column's name suggests, or None.

    Chinese hints match as substrings, English hints as whole words, first match wins:

    >>> name_hint("身份证号码"), name_hint("contactPhone"), name_hint("hotel"), name_hint("district_name")
    ('CN_RESIDENT_ID', 'CN_MOBILE', None, None)
    """
    for fragment, entity in _CHINESE_HINTS:
        if fragment in column_name:
            return entity
    words = _words(column_name)
    for phrase, entity in _ENGLISH_HINTS:
        if _contains(words, phrase):
            return entity
    for i, word in enumerate(words):
        if word in _PERSON_TOKENS:
            return PERSON_NAME
        if word == "name" and (i == 0 or words[i - 1] in _PERSON_WORDS):
            return PERSON_NAME
    return None
