"""The engine a route works with: one per app, made by create_app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from nudgeflow.engine import Engine


async def engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found


EngineDep = Annotated[Engine, Depends(engine)]
