"""Link tokens are itsdangerous tokens however fast we make them: each side reads what the
other signed, a changed byte is refused, and the payload comes back as it went in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import BadSignature, URLSafeSerializer

from nudgeflow.clock import FrozenClock
from nudgeflow.config import load_settings
from nudgeflow.credentials import Credentials, _serializer

SECRET = b"0123456789abcdef0123456789abcdef"
payloads = st.fixed_dictionaries(
    {"u": st.text(max_size=40), "p": st.sampled_from(["accept", "unsubscribe"]),
     "s": st.text(max_size=30), "e": st.integers(0, 2**40)}
)  # fmt: skip


@given(payload=payloads)
def test_ours_and_itsdangerous_read_each_other(payload: dict[str, object]) -> None:
    ours = _serializer(SECRET, "nudgeflow.link")
    theirs = URLSafeSerializer(SECRET, salt="nudgeflow.link")
    assert theirs.loads(ours.dumps(payload)) == payload
    assert ours.loads(theirs.dumps(payload)) == payload


def test_a_changed_token_or_another_salt_is_refused() -> None:
    ours = _serializer(SECRET, "nudgeflow.link")
    token = ours.dumps({"u": "ana", "p": "accept", "s": "n_1", "e": 1})
    with pytest.raises(BadSignature):
        ours.loads(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with pytest.raises(BadSignature):
        _serializer(SECRET, "nudgeflow.user-token").loads(token)


NOW = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
# A configured secret key: the database is never asked for one.
links = Credentials(
    sa.create_engine("sqlite://"), load_settings(secret_key=SECRET.decode()), FrozenClock(NOW)
)


@given(
    user=st.text(max_size=40),
    purpose=st.sampled_from(["accept", "dismiss", "snooze", "preferences", "unsubscribe"]),
    subject=st.text(max_size=30),
    hours=st.integers(1, 24 * 365),
)
def test_a_message_link_is_the_token_itsdangerous_makes(
    user: str, purpose: str, subject: str, hours: int
) -> None:
    """`link_token` signs without itsdangerous's layers; the token must stay byte for byte
    what our itsdangerous serializer makes (and stock itsdangerous reads), so links already
    sent keep working."""
    token = links.link_token(user, purpose, subject, hours=hours)
    expires = int(NOW.timestamp()) + hours * 3600
    payload = {"u": user, "p": purpose, "s": subject, "e": expires}
    assert token == _serializer(SECRET, "nudgeflow.link").dumps(payload)
    assert URLSafeSerializer(SECRET, salt="nudgeflow.link").loads(token) == payload
    assert links.read_link(token) == (user, purpose, subject)
