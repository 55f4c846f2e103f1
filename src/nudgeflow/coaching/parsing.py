"""Reading a model's reply as a draft or a rating, tolerantly: providers without structured
output wrap JSON in prose or code fences, leave trailing commas, use typographic quotes or
Python literals. What still cannot be read raises `MalformedReply` with the reason."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from nudgeflow.coaching.base import MESSAGE_TYPES, Draft, Rating, Recommendation

MAX_PUSH = 120  # characters; longer push texts are cut at a word
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"'})
_SCORE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?\s*")


class MalformedReply(ValueError):
    """The reply holds no usable draft or rating; the message says what was wrong."""


def json_object(text: str) -> dict[str, Any]:
    """The first JSON object in `text`, wherever it sits."""
    for candidate in _candidates(text):
        parsed = _loads_leniently(candidate)
        if isinstance(parsed, dict):
            return parsed
    raise MalformedReply(f"no JSON object in the reply: {_preview(text)}")


def parse_draft(text: str) -> Draft:
    data = json_object(text)
    message_type = _normalised_type(_field(data, "message_type", "type"))
    content = _text(data, "content", "message", "body")
    push = _text(data, "push_text", "push", "pushText", "notification")
    return Draft(message_type, content, _cut(" ".join(push.split()), MAX_PUSH))


def parse_rating(text: str) -> Rating:
    data = json_object(text)
    score = _score(_field(data, "rating", "score", "effectiveness"))
    recommendation = str(_field(data, "recommendation", "decision")).strip().upper()
    if recommendation not in Recommendation.__members__:
        raise MalformedReply(f"recommendation {recommendation!r} is not SEND, SKIP or REVISE")
    reason = data.get("reason") or data.get("feedback") or ""
    return Rating(score, Recommendation(recommendation), str(reason).strip())


def _candidates(text: str) -> list[str]:
    """Whole text first, then fenced blocks, then every balanced {...} span in the prose."""
    return [text.strip(), *_FENCE.findall(text), *_braced_spans(text)]


def _braced_spans(text: str) -> list[str]:
    spans: list[str] = []
    for start, char in enumerate(text):
        if char == "{":
            end = _matching_brace(text, start)
            if end is not None:
                spans.append(text[start : end + 1])
    return spans


def _matching_brace(text: str, start: int) -> int | None:
    depth, quote, escaped = 0, "", False
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            escaped = char == "\\" and not escaped
            if char == quote and not escaped:
                quote = ""
            continue
        if char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
    return None


def _loads_leniently(candidate: str) -> Any:
    repaired = _TRAILING_COMMA.sub(r"\1", candidate.translate(_SMART_QUOTES))
    for attempt in (candidate, repaired):
        try:
            return json.loads(attempt)
        except ValueError:
            pass
    try:  # single quotes, True/False/None: a Python literal
        return ast.literal_eval(repaired)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _field(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name) not in (None, ""):
            return data[name]
    raise MalformedReply(f"the reply has no {names[0]!r}: {_preview(json.dumps(data))}")


def _text(data: dict[str, Any], *names: str) -> str:
    value = _field(data, *names)
    if not isinstance(value, str) or not value.strip():
        raise MalformedReply(f"{names[0]!r} is not text")
    return value.strip()


def _normalised_type(value: Any) -> str:
    name = re.sub(r"[\s\-]+", "_", str(value).strip().lower())
    if name not in MESSAGE_TYPES:
        raise MalformedReply(f"message type {value!r} is not one of the eight")
    return name


def _score(value: Any) -> int:
    match = _SCORE.fullmatch(str(value)) if not isinstance(value, bool) else None
    score = round(float(match[1])) if match else None
    if score is None or not 1 <= score <= 10:
        raise MalformedReply(f"rating {value!r} is not a number from 1 to 10")
    return score


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 80 else flat[:79] + "…")
