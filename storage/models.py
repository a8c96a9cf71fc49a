"""The schema. Alembic migrations under ``storage/migrations`` are generated from it."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ConversationStatus(enum.StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class AuthorKind(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class TouchpointKind(enum.StrEnum):
    MESSAGE = "message"
    BOT_ANSWER = "bot_answer"
    ESCALATION = "escalation"
    CLAIM = "claim"
    AGENT_REPLY = "agent_reply"
    HANDBACK = "handback"
    CLOSE = "close"
    SYSTEM = "system"
    NOTE = "note"
    TRANSFER = "transfer"
    SURVEY = "survey"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda e: [m.value for m in e],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(16))
    # A named group that steers routing ("vip" goes first and gets its own SLA policy).
    segment: Mapped[str | None] = mapped_column(String(32))
    # Custom attributes (imported or set through the API: "plan", "lifetime_value" …) and tags.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Computed on a schedule from behaviour and attributes: the value tier ("top", "high",
    # "medium", "low") and lifecycle stage ("new", "active", "at_risk", "lapsed"), and when.
    value_tier: Mapped[str | None] = mapped_column(String(16))
    lifecycle: Mapped[str | None] = mapped_column(String(16))
    profiled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Erased on request (storage.repos.privacy): personal data gone, aggregates kept.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_by: Mapped[str | None] = mapped_column(String(200))


class ContactIdentity(Base):
    __tablename__ = "contact_identities"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_identity_channel_address"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # RFC 3834: at most one automatic reply to an address per window, so helpdesks cannot loop.
    last_auto_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The customer texted STOP (or the like): nothing more is sent to this address until START.
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdentityVerification(Base):
    """A code emailed to prove an address someone gave in a live chat is theirs. Only a hash
    of the code is kept; it expires, and a few wrong tries spend it."""

    __tablename__ = "identity_verifications"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # The chat address (visitor) that asked, and the address it claims.
    identity_id: Mapped[int] = mapped_column(ForeignKey("contact_identities.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    code_hash: Mapped[str] = mapped_column(String(64))
    salt: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CustomerNote(Base):
    """Staff's note about a customer (not about one conversation), for whoever serves them."""

    __tablename__ = "customer_notes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerMerge(Base):
    """One customer merged into another: who, when, why, and the ids of exactly what moved
    (``moved``: {"identities": [...], "conversations": [...], ...}) and the target's profile
    before and after, so the merge can be undone while those rows have not moved again."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str | None] = mapped_column(String(200))


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32), default="agent")
    # Where a phone call claimed by this agent is connected: a number or a Twilio Client name.
    phone: Mapped[str | None] = mapped_column(String(32))
    voice_client: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # online | away | offline (routing.assignment.Presence); only online agents get work.
    presence: Mapped[str] = mapped_column(String(16), default="offline")
    presence_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    teams: Mapped[list[str]] = mapped_column(JSON, default=list)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)  # "lang:th", "product:billing"
    # Concurrent conversations per channel kind ({"chat": 3, "message": 5, "call": 1});
    # NULL: the defaults.
    capacity: Mapped[dict[str, int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentToken(Base):
    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "console" (the staff console: its sign-in and sign-out set presence) or "api" (a
    # script). NULL: a token from before the distinction, taken as the console's.
    client: Mapped[str | None] = mapped_column(String(16))


class LoginThrottle(Base):
    """Failed sign-ins counted per account ("account:<email>") and per client address
    ("address:<ip>"), shared by every process, with the time until which the key is held off
    (console/throttle.py)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_queue", "status", "priority", "queued_at"),
        Index("ix_conversations_identity_status", "identity_id", "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("contact_identities.id"))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[ConversationStatus] = mapped_column(_enum(ConversationStatus, "conv_status"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    subject: Mapped[str | None] = mapped_column(String(500))
    locale: Mapped[str | None] = mapped_column(String(16))
    bot_misses: Mapped[int] = mapped_column(Integer, default=0)
    team: Mapped[str | None] = mapped_column(String(64))
    # Skills the routing rule asks of the agent besides the team ("product:cards").
    required_skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SLA clocks (business time, per the team's policy); a due time is cleared when met.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a breach was raised to the supervisors (once per conversation and target).
    sla_breached: Mapped[list[str]] = mapped_column(JSON, default=list)
    disposition: Mapped[str | None] = mapped_column(String(64))
    # After close: asked → comment → done (or skipped when the customer wrote something else).
    csat_state: Mapped[str | None] = mapped_column(String(16))
    csat_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csat_score: Mapped[int | None] = mapped_column(Integer)
    csat_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CannedResponse(Base):
    """A reply agents insert with a shortcut; ``{customer_name}``-style placeholders are
    filled in for the conversation at hand."""

    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    team: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Touchpoint(Base):
    """Everything that happened with a customer: messages, bot answers, escalations, notes."""

    __tablename__ = "touchpoints"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id", name="uq_touchpoint_provider_id"),
        Index("ix_touchpoints_conversation", "conversation_id", "id"),
        Index("ix_touchpoints_customer", "customer_id", "id"),
        Index("ix_touchpoints_retention", "channel", "created_at"),
        # Reports read one kind over a date range (escalations, closes, surveys …).
        Index("ix_touchpoints_kind_time", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[TouchpointKind] = mapped_column(_enum(TouchpointKind, "tp_kind"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "tp_direction"))
    author_kind: Mapped[AuthorKind] = mapped_column(_enum(AuthorKind, "tp_author"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    delivery_state: Mapped[DeliveryState | None] = mapped_column(
        _enum(DeliveryState, "tp_delivery")
    )
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the body was removed (retention or erasure): text empty, only routing facts in meta.
    redacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Call(Base):
    """One phone call: the IVR's state between webhooks, and what happened, for the history."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    from_number: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))  # Twilio's CallStatus
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the IVR engine's
    outcome: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)


class StoredAttachment(Base):
    """A file that came with a message; ``data`` is NULL when it was over the size limit."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    touchpoint_id: Mapped[int] = mapped_column(ForeignKey("touchpoints.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    omitted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    touchpoint_id: Mapped[int] = mapped_column(ForeignKey("touchpoints.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Article(Base):
    """One article in one locale: the working copy a knowledge manager edits.

    ``version`` is the working copy's version; ``published_version`` the one the bot answers
    from (None: the bot does not use this article). A published article being edited is a
    draft again while its last published version keeps answering.
    """

    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    locale: Mapped[str] = mapped_column(String(16), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default=ArticleStatus.DRAFT.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    published_version: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(200))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    status_changed_by: Mapped[str | None] = mapped_column(String(200))
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ArticleVersion(Base):
    """Every saved state of an article's content, never changed once written."""

    __tablename__ = "article_versions"

    article_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    locale: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))  # "rollback to 3", "import kb.csv"
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ArticleEvent(Base):
    """The workflow's history: who moved an article from which status to which, and when."""

    __tablename__ = "article_events"
    __table_args__ = (Index("ix_article_events_article", "article_id", "locale", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    article_id: Mapped[str] = mapped_column(String(128))
    locale: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ArticleFeedback(Base):
    """A customer's "was this helpful?" on one bot answer (one vote per answer, changeable)."""

    __tablename__ = "article_feedback"
    __table_args__ = (Index("ix_article_feedback_article", "article_id", "locale"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    touchpoint_id: Mapped[int] = mapped_column(ForeignKey("touchpoints.id"), unique=True)
    article_id: Mapped[str] = mapped_column(String(128))
    locale: Mapped[str] = mapped_column(String(16))
    article_version: Mapped[int | None] = mapped_column(Integer)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(32))
    helpful: Mapped[bool] = mapped_column(Boolean)
    question: Mapped[str | None] = mapped_column(Text)  # what the customer asked
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # "Who last set this customer's segment" and a target's trail read by action and target.
    __table_args__ = (Index("ix_audit_events_action_target", "action", "target", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class KbRevision(Base):
    """One row bumped on every knowledge-base change so every process can refresh its index."""

    __tablename__ = "kb_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
