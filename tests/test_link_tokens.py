"""Link tokens are itsdangerous tokens however fast we make them: each side reads what the
other signed, a changed byte is refused, and the payload comes back as it went in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import BadSignature, URLSafeSerializer

from nudgeflow.credentials import _serializer

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
