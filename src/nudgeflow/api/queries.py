"""What the schema cannot say about a request. Query parameters a route does not take are
refused, not ignored: a typo such as `?stauts=delivered` would otherwise answer as if no
filter had been asked for. And text may not hold NUL (U+0000): PostgreSQL cannot store it
(a 500 there), SQLite can; refusing it on both keeps their answers alike."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from nudgeflow.errors import InvalidInput

_allowed: dict[int, frozenset[str]] = {}  # per route, by id: routes live as long as the app


async def known_query(request: Request) -> None:
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return
    allowed = _allowed.get(id(route))
    if allowed is None:
        allowed = _allowed[id(route)] = frozenset(_names(route.dependant))
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidInput(unknown[0], "is not a query parameter of this route")


def _names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _names(sub)
    return names


# A JSON string can hold NUL only as the escape \u0000; after an even run of backslashes
# (`\\u0000` is a backslash and the text "u0000") it is an escape, not text.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


async def no_nul(request: Request) -> None:
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if "\x00" in value:
            raise InvalidInput(name, "may not contain NUL (U+0000)")
    body: bytes = request.scope.get("state", {}).get("body", b"")  # kept by BodyLimit
    if b"\\u0000" in body and _NUL_ESCAPE.search(body):
        raise InvalidInput("body", "text may not contain NUL (U+0000)")
