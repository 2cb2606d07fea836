"""Word-level helpers the heuristic model reasons with: tokens, stems, ids, numbers, clauses.

The scripted model has no language model inside it, so "understanding" a task means comparing
bags of word stems. Everything here is pure and deterministic so the same conversation always
produces the same answer (tests and the demo rely on that).
"""

from __future__ import annotations

import re

__all__ = [
    "STOPWORDS",
    "because_clause",
    "content_words",
    "id_tokens",
    "numbers",
    "proper_nouns",
    "sentences",
    "stem",
    "stem_positions",
    "words",
]

_STOPWORD_TEXT = """a an the and or but if then else of to in on at by for from with without
    into onto about
    as is are was were be been being am do does did done have has had having it its it's this
    that these those there here i me my we our you your he she they them their his her him
    please pls thanks thank kindly can could would should will shall may might must just also
    too very so such not no yes any some all each every other than what which who whom whose
    when where why how up out off over again further once only own same both few more most
    id ids an get got need needs want wants like let lets make sure ok okay hi hello dear via
    per one two us using use used"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Verb particles: "look up" and "lookup" must match, so a short verb followed by one of these is
# also read as the joined word.
_PARTICLES = frozenset({"up", "in", "out", "off", "on", "down", "back", "over"})
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*[A-Za-z0-9]|[A-Za-z0-9]")
_UNIT = re.compile(r"^\d+(st|nd|rd|th|s|am|pm|h|m|ms|kg|km|mb|gb|x|k|usd|eur)$", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.-])(\$|€|£)?(\d+(?:,\d{3})*(?:\.\d+)?)(?![\w-])")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_STEM_LEN = 5


def words(text: str) -> list[str]:
    """Lowercase alphanumeric tokens; snake_case and camelCase names split into their words."""
    return _WORD.findall(_CAMEL.sub(r"\1 \2", text).lower())


def stem(word: str) -> str:
    """A crude but stable stem: the first five letters ("refunds" and "refund" agree)."""
    return word[:_STEM_LEN]


def content_words(text: str) -> list[str]:
    """Words that carry meaning: no stopwords, no single characters."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def stem_positions(text: str) -> dict[str, int]:
    """Each meaningful stem of ``text`` with the word position where it first appears.

    A short verb followed by a particle also yields the joined stem ("look up" -> "looku"), so
    a task saying "look up" matches a tool named ``lookup_order``.
    """
    tokens = words(text)
    positions: dict[str, int] = {}
    for index, word in enumerate(tokens):
        if word not in STOPWORDS and len(word) > 1 and not word.isdigit():
            positions.setdefault(stem(word), index)
        if index + 1 < len(tokens) and tokens[index + 1] in _PARTICLES and len(word) <= 5:
            positions.setdefault(stem(word + tokens[index + 1]), index)
    return positions


def id_tokens(text: str) -> list[str]:
    """Identifier-looking tokens in order of appearance, without repeats.

    ``A1001``, ``ORD-77`` and ``R-2f9`` qualify (letters and digits), as do bare numbers of four
    or more digits; ordinals and units ("2nd", "10kg") do not.
    """
    found: list[str] = []
    for token in _TOKEN.findall(text):
        has_digit = any(c.isdigit() for c in token)
        has_alpha = any(c.isalpha() for c in token)
        is_id = (has_digit and has_alpha and not _UNIT.match(token)) or (
            token.isdigit() and len(token) >= 4
        )
        if is_id and token not in found:
            found.append(token)
    return found


def numbers(text: str) -> list[tuple[float, bool]]:
    """Standalone numbers in ``text`` with whether a currency sign preceded them."""
    return [(float(value.replace(",", "")), bool(sign)) for sign, value in _NUMBER.findall(text)]


def sentences(text: str) -> list[str]:
    """Sentences of ``text`` (split after ``.``, ``!`` or ``?``), stripped, non-empty."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def because_clause(text: str) -> str | None:
    """The reason a task gives: the "because …" clause, else a trailing clause after a comma.

    "refund it, it arrived broken" gives "it arrived broken": people state the reason last.
    """
    match = re.search(r"\b(?:because|since|as|due to)\b\s+(.+?)(?:[.!?]|$)", text, re.IGNORECASE)
    if match and len(match.group(1).split()) >= 2:
        return match.group(1).strip()
    clauses = [c.strip(" .!?") for c in re.split(r"[,;:]|\s[-–—]\s", text) if c.strip(" .!?")]
    if len(clauses) > 1 and len(clauses[-1].split()) >= 2:
        return clauses[-1]
    return None


def proper_nouns(text: str) -> list[str]:
    """Capitalised words that do not start a sentence ("weather in Paris" -> ["Paris"])."""
    found: list[str] = []
    for sentence in sentences(text):
        for word in re.findall(r"[A-Za-z][\w'-]*", sentence)[1:]:
            if (
                word[0].isupper()
                and word.lower() not in STOPWORDS
                and not any(c.isdigit() for c in word)
                and word not in found
            ):
                found.append(word)
    return found
