"""One pass over a message: every rule's matches, the earlier rule winning where two
overlap. Masks come first so that phone numbers, prices, scores and room numbers never
become times; "1:1" comes before clocks so it is a meeting, not 01:01."""

from __future__ import annotations

import re
from functools import cache

from nudgeflow.agenda import clock, days, measures, nouns, zones
from nudgeflow.agenda.clock import Rule
from nudgeflow.agenda.values import Atom

MASKS = (
    # phone numbers and meeting ids: "555-0123", "(415) 555-0134", "845 2219 3307"
    r"(?<![\w:])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?)?\d{3,5}[\s.-]\d{3,8}(?:[\s.-]\d{2,4})?(?![\w:])",
    r"[$€£¥]\s?\d[\d,.]*(?:\s?[kmb]n?\b)?|\b\d[\d,.]*\s?(?:dollars|usd|eur|euros?|bucks|gbp|pounds)\b",
    r"\b\d+(?:[.,]\d+)?\s?(?:%|percent\b|°|degrees\b)",
    r"(?:\b(?:room|rm|floor|fl|suite|ste|building|bldg|gate|table|desk|ext|extension|apt|unit"
    r"|platform|level|page|pages|ticket|issue|order|version|chapter|bus|route|row|seat|id|pin"
    r"|code|no\.)|#)\s*#?:?\s*\d[\w.-]*",
    r"\bv\d+(?:\.\d+)+\b",
    # scores: "won 3-1", "beat Spain 2-1", "2-1 final", "up 2-0", "score was 2:1"
    r"\b(?:won|lost|beat|beats|drew|tied|scored|leading|trailing|led|score\s+(?:was|is))\s+"
    r"(?:[\w']+\s+){0,2}?(?:by\s+)?\d{1,3}\s*[-–:]\s*\d{1,3}(?!\s*[ap]\.?m|\d)",
    r"(?<![\w:.-])\d{1,3}\s*[-–]\s*\d{1,3}\s+(?:up|down|lead|win|loss|victory|defeat|final)\b",
    r"\b(?:up|down)\s+\d{1,2}\s*[-–]\s*\d{1,2}\b(?!\s*[ap]\.?m)",
)


def _mask(m: re.Match[str], text: str) -> Atom | None:
    return Atom("skip", m.start(), m.end())


def _one_on_one(m: re.Match[str], text: str) -> Atom | None:
    return Atom("noun", m.start(), m.end(), word="1:1")


@cache
def rules() -> tuple[tuple[re.Pattern[str], Rule], ...]:
    ordered: list[tuple[str, Rule]] = [(p, _mask) for p in MASKS]
    ordered.append((nouns.ONE_ON_ONE, _one_on_one))
    ordered += clock.RULES + measures.RULES + days.RULES + zones.RULES + nouns.RULES
    return tuple((re.compile(p, re.IGNORECASE), build) for p, build in ordered)


def scan(text: str) -> list[Atom]:
    """The atoms of `text`, in order; masked pieces are dropped."""
    taken = bytearray(len(text) + 1)
    found: list[Atom] = []
    for pattern, build in rules():
        for m in pattern.finditer(text):
            if m.end() == m.start() or any(taken[m.start() : m.end()]):
                continue
            atom = build(m, text)
            if atom is None or any(taken[atom.start : atom.end]):
                continue
            taken[atom.start : atom.end] = b"\x01" * (atom.end - atom.start)
            found.append(atom)
    return sorted((a for a in found if a.kind != "skip"), key=lambda a: a.start)
