"""Query parameters a route does not take are refused, not ignored: a typo such as
`?stauts=delivered` would otherwise answer as if no filter had been asked for."""

from __future__ import annotations

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
