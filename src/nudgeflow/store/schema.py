"""Tables. Every queue of work is an indexed due-time column: `users.next_check_at`,
`deliveries.next_attempt_at`. Unique keys make a repeated step harmless:
`(user_id, rule, dedupe_key)` for nudges, `(nudge_id, channel)` for deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant: `timestamptz` on PostgreSQL; on SQLite fixed-width ISO 8601 text,
    which sorts as time does and converts in C both ways."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} cannot be stored; pass an aware one")
        if dialect.name == "sqlite":
            return value.astimezone(UTC).isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value)
        return value.astimezone(UTC)  # type: ignore[no-any-return]


JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.String(128)


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("users.id", ondelete="CASCADE")


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("plan", sa.String(64), nullable=False),
    sa.Column("org", Id, nullable=True, index=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("locale", sa.String(35), nullable=False),
    sa.Column("traits", JSON, nullable=False),
    sa.Column("addresses", JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # The due index. A sweep claims due users by setting lease_until; a crashed sweep's users
    # fall due again when the lease ends.
    sa.Column("next_check_at", UTCDateTime, nullable=False, index=True),
    sa.Column("checked_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    # Bumped by every fact written; a sweep that saw an older version leaves the user due.
    sa.Column("facts_version", sa.BigInteger, nullable=False, server_default="0"),
)

preferences = sa.Table(
    "preferences",
    metadata,
    sa.Column("user_id", Id, _user_fk(), primary_key=True),
    sa.Column("data", JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("user_id", Id, _user_fk(), primary_key=True),
    sa.Column("id", Id, primary_key=True),  # the idempotency key
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("props", JSON, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Index("ix_events_user_id_name_at", "user_id", "name", "at"),
)

records = sa.Table(
    "records",
    metadata,
    sa.Column("user_id", Id, _user_fk(), primary_key=True),
    sa.Column("kind", sa.String(128), primary_key=True),
    sa.Column("key", Id, primary_key=True),
    sa.Column("props", JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

organisations = sa.Table(
    "organisations",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("agent_enabled", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

rule_states = sa.Table(
    "rule_states",
    metadata,
    sa.Column("rule", sa.String(128), primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
)

flags = sa.Table(
    "flags",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("plans", JSON, nullable=False),
    sa.Column("percentage", sa.Integer, nullable=False),
    sa.Column("allow", JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("roles", JSON, nullable=False, server_default=sa.text("'[]'")),
    sa.Column("deny", JSON, nullable=False, server_default=sa.text("'[]'")),
    sa.Column("beta", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("group_id", sa.String(128), nullable=True),
)

# Counters that tell every worker its cached copy is stale: "flags" moves on each change of a
# flag or an organisation's kill switch, so workers reload their flag snapshot within seconds.
versions = sa.Table(
    "versions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

nudges = sa.Table(
    "nudges",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", Id, _user_fk(), nullable=False),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("playbook", sa.String(128), nullable=False),
    sa.Column("dedupe_key", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("action_label", sa.String(128), nullable=False),
    sa.Column("action_url", sa.Text, nullable=False),
    sa.Column("channel", sa.String(32), nullable=True),
    sa.Column("deliver_at", UTCDateTime, nullable=True),
    sa.Column("expires_at", UTCDateTime, nullable=True, index=True),
    sa.Column("cap_day", sa.String(10), nullable=True),  # the user's local day it counts on
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("acted_at", UTCDateTime, nullable=True),
    sa.Column("data", JSON, nullable=False),
    sa.Column("seen_at", UTCDateTime, nullable=True),  # the user saw it in the inbox
    sa.Column("delivered_at", UTCDateTime, nullable=True),  # first shown, for time to action
    sa.UniqueConstraint("user_id", "rule", "dedupe_key"),
    sa.Index("ix_nudges_user_id_created_at", "user_id", "created_at"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "nudge_id", sa.String(40), sa.ForeignKey("nudges.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("channel", sa.String(32), nullable=False),
    # pending, sending (claimed, an attempt under way), sent, dead, cancelled; held (its text
    # not yet generated), writing (a generation under way)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=True, index=True),  # null once settled
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("lease_until", UTCDateTime, nullable=True),  # while sending
    sa.Column("provider_id", sa.String(256), nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    # An attempt a crash interrupted may have reached the user: flagged; sent again only to
    # providers that dedupe by our id (webhooks), else dead with the reason.
    sa.Column("ambiguous", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("nudge_id", "channel"),
)

# Addresses a provider told us are gone (a blocked bot, a webhook answering 410): nothing more
# is sent there until the user's address changes.
unreachable = sa.Table(
    "unreachable",
    metadata,
    sa.Column("user_id", Id, _user_fk(), primary_key=True),
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# Which user each Telegram chat is: the bot looks a chat up by its primary key on every update,
# so the cost does not grow with users. A user has one chat at most, mirrored in
# `users.addresses.telegram` (which the channel and the policy read) in the same transaction.
# The bot's conversation state lives here, not in the traits the host app replaces.
telegram_chats = sa.Table(
    "telegram_chats",
    metadata,
    sa.Column("chat_id", sa.String(32), primary_key=True),
    sa.Column("user_id", Id, _user_fk(), nullable=False, unique=True),
    sa.Column("linked_at", UTCDateTime, nullable=False),
    # True once the user named their timezone, False when /timezone asked again, null: never
    # asked (a timezone other than UTC then counts as known).
    sa.Column("timezone_confirmed", sa.Boolean, nullable=True),
    sa.Column("pending", JSON, nullable=False),  # messages kept until the timezone is known
)

# Every attempt at generated content (coaching messages): what was written and by which
# generator, how it was rated, whether it went out, and what it cost. The attempt that settles
# a nudge (final) lets its deliveries go; until then they wait.
generation_attempts = sa.Table(
    "generation_attempts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "nudge_id", sa.String(40), sa.ForeignKey("nudges.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("user_id", Id, _user_fk(), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),  # 1 the draft, 2 its one revision
    sa.Column("generator", sa.String(32), nullable=False),  # template | llm
    sa.Column("provider", sa.String(64), nullable=True),
    sa.Column("model", sa.String(128), nullable=True),
    sa.Column("message_type", sa.String(32), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("push_text", sa.Text, nullable=False),
    sa.Column("rating", sa.Integer, nullable=True),
    sa.Column("recommendation", sa.String(8), nullable=True),  # SEND | SKIP | REVISE
    sa.Column("context", JSON, nullable=False),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("sent", sa.Boolean, nullable=False),
    sa.Column("final", sa.Boolean, nullable=False),
    sa.Column("tokens_in", sa.Integer, nullable=False),
    sa.Column("tokens_out", sa.Integer, nullable=False),
    sa.Column("cost", sa.Float, nullable=False),  # USD
    sa.Column("host_ref", sa.String(256), nullable=True),  # what the host app made of it
    sa.Index("ix_generation_attempts_nudge_id", "nudge_id"),
    sa.Index("ix_generation_attempts_user_id_at", "user_id", "at"),
    sa.Index("ix_generation_attempts_at", "at"),
)

rule_errors = sa.Table(
    "rule_errors",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("user_id", Id, nullable=False, index=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("before", JSON, nullable=True),
    sa.Column("after", JSON, nullable=True),
)

# Credentials of the HTTP API. Only a hash of each key is kept: a stolen database holds no key.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("admin", sa.Boolean, nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
)

# Secrets this installation made for itself, such as the key that signs user tokens when
# NUDGEFLOW_SECRET_KEY is not set.
instance_secrets = sa.Table(
    "instance_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

# The first answer to each request sent with an Idempotency-Key, replayed to its repeats.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("caller", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("content_type", sa.String(128), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
)
