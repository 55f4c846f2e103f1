"""Who may call which route. Every route states its callers with one of these dependencies.
They are async and cheap (a token is checked by its signature, a key from a short-lived cache;
credentials.py), so they run on the event loop instead of costing a thread each.

- `caller`: any valid credential (an API key or a user token);
- `host`: an API key, host app or admin (facts in, tokens out);
- `admin`: an admin key only;
- `for_user`: a key, or the token of the user named in the path. Another user's token gets
  403 and no data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from nudgeflow.credentials import Caller
from nudgeflow.engine import Engine
from nudgeflow.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key (nfk_…) for host apps and admins, or a user token (nfu_…).",
)


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if bearer is None:
        raise Unauthorized("send Authorization: Bearer <API key or user token>")
    engine: Engine = request.app.state.engine
    who = engine.credentials.identify(bearer.credentials)
    request.state.caller = who
    return who


Anyone = Annotated[Caller, Depends(caller)]


async def host(who: Anyone) -> Caller:
    if who.kind == "user":
        raise Forbidden("this route takes an API key, not a user token")
    return who


async def admin(who: Anyone) -> Caller:
    if who.kind != "admin":
        raise Forbidden("this route takes an admin key")
    return who


async def for_user(user_id: Annotated[str, Path(max_length=128)], who: Anyone) -> Caller:
    if not who.may_act_for(user_id):
        raise Forbidden(f"this token is not {user_id}'s")
    return who


Host = Annotated[Caller, Depends(host)]
Admin = Annotated[Caller, Depends(admin)]
ForUser = Annotated[Caller, Depends(for_user)]
