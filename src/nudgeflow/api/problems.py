"""Errors as `application/problem+json` (RFC 9457): a status, a title, a detail that names
the field or id at fault, and for invalid requests every field with its problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from nudgeflow.errors import (
    ConfigError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    NudgeflowError,
    Unauthorized,
)

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str
    problem: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None


def problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, instance=request.url.path,
                   errors=errors)  # fmt: skip
    return JSONResponse(
        body.model_dump(exclude_none=True), status, headers=headers, media_type=MEDIA_TYPE
    )


# How each of our errors answers: status and title.
_STATUS: list[tuple[type[NudgeflowError], int, str]] = [
    (Unauthorized, 401, "Unauthorized"),
    (Forbidden, 403, "Forbidden"),
    (NotFound, 404, "Not found"),
    (IllegalTransition, 409, "Illegal transition"),
    (ConfigError, 409, "Not configured"),  # the request needs a setting this server lacks
    (InvalidInput, 422, "Invalid input"),
]


def _ours(request: Request, exc: Exception) -> JSONResponse:
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            errors = [FieldProblem(field=exc.field, problem=exc.problem)] if isinstance(exc, InvalidInput) else None  # fmt: skip
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return problem(request, status, title, str(exc), errors=errors, headers=headers)
    return problem(request, 400, "Bad request", str(exc))


def _field(location: tuple[Any, ...]) -> str:
    # ("body", "addresses", "email") → "addresses.email"; ("query", "limit") → "limit"
    parts = [str(p) for p in location[1:]] or [str(p) for p in location]
    return ".".join(parts)


def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldProblem(
            field=_field(tuple(e["loc"])), problem=str(e["msg"]).removeprefix("Value error, ")
        )
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e.field}: {e.problem}" for e in errors)
    return problem(request, 422, "Invalid input", detail, errors=errors)


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
    return problem(request, exc.status_code, title, str(exc.detail), headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(NudgeflowError, _ours)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries saying these statuses answer with a problem document."""
    content = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {
        status: {"description": "A problem (RFC 9457)", "content": content} for status in statuses
    }
