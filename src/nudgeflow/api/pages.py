"""The small pages links in messages open: act on a nudge, unsubscribe, preferences.

Every link carries a signed, expiring token for one user (credentials.link_token). A GET only
shows a page with a button — mail scanners open every link — and the page's POST acts, once:
pressing again shows the same result. The unsubscribe POST is RFC 8058's one-click: it works
without cookies or a page, and answers 200.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from nudgeflow.engine import Engine
from nudgeflow.errors import IllegalTransition, InvalidInput, NotFound, NudgeflowError, Unauthorized
from nudgeflow.facts import Preferences, parse

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=PackageLoader("nudgeflow", "templates"), autoescape=select_autoescape(["j2"])
)

SNOOZE_CHOICES = [("1h", "1 hour"), ("4h", "4 hours"), ("24h", "tomorrow"), ("1w", "a week")]
CHANNELS = [("in_app", "the app"), ("email", "email"), ("telegram", "Telegram")]
HEADINGS = {"accept": "Let's do it", "dismiss": "Not for you?", "snooze": "Later, then"}
DONE = {"accepted": "Done — marked as accepted.", "dismissed": "Dismissed. We won't show it again.",
        "snoozed": "Snoozed. It will come back then."}  # fmt: skip


def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(f"pages/{name}.html.j2").render(**context)
    return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def _form(request: Request) -> dict[str, list[str]]:
    return parse_qs((await request.body()).decode("utf-8", "replace"))


async def _guarded(call: Callable[[], HTMLResponse]) -> HTMLResponse:
    """Run `call` off the event loop; a bad or expired link is a page, not a stack trace."""
    try:
        return await run_in_threadpool(call)
    except Unauthorized as exc:
        return page("error", 401, title="This link does not work", detail=str(exc).capitalize() + ".")  # fmt: skip
    except NotFound:
        return page("error", 404, title="Not found", detail="This is no longer there.")


def _read(engine: Engine, token: str, purposes: set[str]) -> tuple[str, str, str]:
    user_id, purpose, subject = engine.credentials.read_link(token)
    if purpose not in purposes:
        raise Unauthorized("this link is for something else")
    return user_id, purpose, subject


# ---- acting on a nudge -------------------------------------------------------------------------


@router.get("/act/{token}", response_class=HTMLResponse)
async def act_page(token: str, request: Request) -> HTMLResponse:
    engine = _engine(request)

    def show() -> HTMLResponse:
        user_id, purpose, nudge_id = _read(engine, token, set(HEADINGS))
        nudge = _owned(engine, nudge_id, user_id)
        return _act_page(purpose, nudge)

    return await _guarded(show)


@router.post("/act/{token}", response_class=HTMLResponse)
async def act(token: str, request: Request) -> HTMLResponse:
    engine, form = _engine(request), await _form(request)

    def do() -> HTMLResponse:
        user_id, purpose, nudge_id = _read(engine, token, set(HEADINGS))
        nudge = _owned(engine, nudge_id, user_id)
        try:
            if purpose == "snooze":
                done = engine.snooze(nudge_id, (form.get("for") or ["24h"])[0], user_id=user_id)
            else:
                done = getattr(engine, purpose)(nudge_id, user_id=user_id)
        except (IllegalTransition, InvalidInput) as exc:
            return _act_page(purpose, nudge, problem=_why_not(exc, nudge), status=409)
        return _act_page(purpose, done, done=DONE[done["status"]])

    return await _guarded(do)


def _owned(engine: Engine, nudge_id: str, user_id: str) -> dict[str, Any]:
    nudge = engine.nudge(nudge_id)
    if nudge["user_id"] != user_id:
        raise NotFound("nudge", nudge_id)
    return nudge


def _why_not(exc: NudgeflowError, nudge: dict[str, Any]) -> str:
    if isinstance(exc, IllegalTransition):
        return f"This can't be done any more: it is {nudge['status']}."
    return str(exc)


def _act_page(purpose: str, nudge: dict[str, Any], status: int = 200, **extra: Any) -> HTMLResponse:
    url = nudge["action_url"] if purpose == "accept" and extra.get("done") else None
    return page("act", status, title=nudge["title"], heading=HEADINGS[purpose], nudge=nudge,
                purpose=purpose, snooze_choices=SNOOZE_CHOICES, action_url=url, **extra)  # fmt: skip


# ---- unsubscribe and preferences ----------------------------------------------------------------


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    engine = _engine(request)

    def show() -> HTMLResponse:
        _read(engine, token, {"unsubscribe"})
        return page("unsubscribe", title="Unsubscribe")

    return await _guarded(show)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request) -> HTMLResponse:
    """RFC 8058 one-click: the mail client POSTs List-Unsubscribe=One-Click; so does our page."""
    engine = _engine(request)

    def do() -> HTMLResponse:
        user_id, _, _ = _read(engine, token, {"unsubscribe"})
        prefs = engine.preferences(user_id)
        kept = tuple(c for c in prefs.channels if c != "email")
        engine.set_preferences(user_id, prefs.model_copy(update={"channels": kept}))
        link = engine.credentials.link_token(user_id, "preferences", hours=24 * 7)
        return page("unsubscribe", title="Unsubscribed", done=True, preferences_url=f"/preferences/{link}")  # fmt: skip

    return await _guarded(do)


@router.get("/preferences/{token}", response_class=HTMLResponse)
async def preferences_page(token: str, request: Request) -> HTMLResponse:
    engine = _engine(request)

    def show() -> HTMLResponse:
        user_id, _, _ = _read(engine, token, {"preferences", "unsubscribe"})
        return _preferences_page(engine, user_id, engine.preferences(user_id))

    return await _guarded(show)


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def save_preferences(token: str, request: Request) -> HTMLResponse:
    engine, form = _engine(request), await _form(request)

    def do() -> HTMLResponse:
        user_id, _, _ = _read(engine, token, {"preferences", "unsubscribe"})
        current = engine.preferences(user_id)
        try:
            wanted = _from_form(form, current, _playbooks(engine))
            engine.set_preferences(user_id, wanted)
        except InvalidInput as exc:
            return _preferences_page(engine, user_id, current, problem=str(exc), status=422)
        return _preferences_page(engine, user_id, wanted, saved=True)

    return await _guarded(do)


def _from_form(
    form: dict[str, list[str]], current: Preferences, playbooks: list[str]
) -> Preferences:
    start, end = (form.get(k, [""])[0] for k in ("quiet_start", "quiet_end"))
    quiet = {"start": start, "end": end} if start and end else None
    if bool(start) != bool(end):
        raise InvalidInput("quiet_hours", "give both a start and an end, or neither")
    chosen = set(form.get("playbooks", []))
    data = {**current.model_dump(mode="json"), "channels": form.get("channels", []),
            "quiet_hours": quiet, "proactive": form.get("proactive") == ["on"],
            "playbooks_off": [p for p in playbooks if p not in chosen]}  # fmt: skip
    return parse(Preferences, data)


def _playbooks(engine: Engine) -> list[str]:
    return sorted({rule.playbook for rule in engine.rules})


def _preferences_page(
    engine: Engine, user_id: str, prefs: Preferences, status: int = 200, **extra: Any
) -> HTMLResponse:
    quiet = prefs.quiet_hours
    timezone = engine.user(user_id).timezone.key
    return page("preferences", status, title="Your preferences", prefs=prefs, channels=CHANNELS,
                playbooks=_playbooks(engine), timezone=timezone,
                quiet_start=f"{quiet.start:%H:%M}" if quiet else "",
                quiet_end=f"{quiet.end:%H:%M}" if quiet else "", **extra)  # fmt: skip
