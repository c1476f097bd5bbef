"""The durable state (DESIGN.md §1): everything that must survive losing Redis."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TZDateTime(TypeDecorator):
    """Always timezone-aware UTC, also on SQLite (which drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: TZDateTime, dict: JSON, list: JSON}


class Connector(Base):
    __tablename__ = "connector"
    id: Mapped[int] = mapped_column(primary_key=True)
    business_unit_id: Mapped[str] = mapped_column(String(18), unique=True)  # R2
    version: Mapped[int]  # R1
    # R35: builtin (our engine) | salesforce (Salesforce's connector v2 syncs; we observe and operate it)
    engine: Mapped[str] = mapped_column(String(16), default="builtin", server_default="builtin")
    state: Mapped[str] = mapped_column(String(16))  # active | paused | throttled | error
    state_reason: Mapped[str | None] = mapped_column(Text)
    state_since: Mapped[datetime]
    paused_at: Mapped[datetime | None]
    paused_by: Mapped[str | None] = mapped_column(String(255))
    paused_reason: Mapped[str | None] = mapped_column(Text)
    connector_user: Mapped[str] = mapped_column(String(255))  # "integration" or a Salesforce username (R3)
    ampsea: Mapped[bool] = mapped_column(Boolean, default=False)
    ampsea_reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_create_prospects: Mapped[bool] = mapped_column(Boolean, default=True)
    follow_email_changes: Mapped[bool] = mapped_column(Boolean, default=True)
    mds_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    error_queue_owner: Mapped[str | None] = mapped_column(String(255))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # role overrides, API share, …
    checks: Mapped[dict] = mapped_column(JSON, default=dict)  # last remote verification (R30)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255))


class FieldMapping(Base):
    __tablename__ = "field_mapping"
    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"))
    pardot_field: Mapped[str] = mapped_column(String(80))
    lead_field: Mapped[str | None] = mapped_column(String(80))
    contact_field: Mapped[str | None] = mapped_column(String(80))
    account_field: Mapped[str | None] = mapped_column(String(80))
    behaviour: Mapped[str] = mapped_column(String(16))  # salesforce | pardot | most_recent (R14)
    overwrite_with_empty: Mapped[bool] = mapped_column(Boolean, default=False)  # R15
    __table_args__ = (UniqueConstraint("connector_id", "pardot_field"),)


class MdsRule(Base):
    __tablename__ = "mds_rule"
    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"))
    sobject: Mapped[str] = mapped_column(String(40))  # Lead | Contact | Opportunity (R22)
    field: Mapped[str] = mapped_column(String(80))
    value: Mapped[str] = mapped_column(String(255))
    __table_args__ = (UniqueConstraint("connector_id", "sobject"),)


class CrmRecord(Base):
    """Local mirror of the Salesforce records the connector syncs (matching without API calls)."""
    __tablename__ = "crm_record"
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True)
    crm_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    sobject: Mapped[str] = mapped_column(String(16))  # Lead | Contact | Account
    email: Mapped[str | None] = mapped_column(String(255))  # lower-cased
    modstamp: Mapped[datetime]
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    converted_to: Mapped[str | None] = mapped_column(String(18))
    in_mds: Mapped[bool] = mapped_column(Boolean, default=True)
    owner_id: Mapped[str | None] = mapped_column(String(18))
    values: Mapped[dict] = mapped_column(JSON)  # mapped fields, keyed by Pardot field name
    __table_args__ = (Index("ix_crm_record_email", "connector_id", "email"),)


class Prospect(Base):
    """Local mirror of Pardot prospects."""
    __tablename__ = "prospect"
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True)
    prospect_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    email: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime]
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_to_id: Mapped[int | None] = mapped_column(BigInteger)
    crm_id: Mapped[str | None] = mapped_column(String(18))  # salesforceId as Pardot has it
    values: Mapped[dict] = mapped_column(JSON)
    __table_args__ = (Index("ix_prospect_email", "connector_id", "email"),
                      Index("ix_prospect_crm", "connector_id", "crm_id"))


class RecordLink(Base):
    """prospect ↔ CRM record (R10) with the values last written to both sides (R18)."""
    __tablename__ = "record_link"
    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"))
    prospect_id: Mapped[int] = mapped_column(BigInteger)
    crm_id: Mapped[str] = mapped_column(String(18))
    crm_type: Mapped[str] = mapped_column(String(16))
    synced_values: Mapped[dict] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    deleted_in_crm: Mapped[bool] = mapped_column(Boolean, default=False)  # R19
    outside_mds: Mapped[bool] = mapped_column(Boolean, default=False)  # R24
    last_synced_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a cycle last brought each side up to date (shown by the record sync state, issue 9 item 3).
    last_synced_to_pardot: Mapped[datetime | None]
    last_synced_to_salesforce: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("connector_id", "prospect_id"),
                      UniqueConstraint("connector_id", "crm_id"))


class PendingChange(Base):
    """Durable work list between reading changes and writing them (R17)."""
    __tablename__ = "pending_change"
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True)
    side: Mapped[str] = mapped_column(String(10), primary_key=True)  # salesforce | pardot
    record_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordState(Base):
    """Why a record is not synced (unassigned with no match, no email, outside MDS…), R12."""
    __tablename__ = "record_state"
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True)
    side: Mapped[str] = mapped_column(String(10), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Cursor(Base):
    __tablename__ = "cursor"
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[datetime]


class UserMatch(Base):
    """Pardot user ↔ Salesforce user, refreshed by the metadata step of every cycle (R4)."""
    __tablename__ = "user_match"
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(String(255), primary_key=True)  # lower-cased
    pardot_user_id: Mapped[int | None] = mapped_column(BigInteger)
    pardot_role: Mapped[str | None] = mapped_column(String(40))
    salesforce_user_id: Mapped[str | None] = mapped_column(String(18))
    salesforce_active: Mapped[bool] = mapped_column(Boolean, default=False)
    salesforce_username: Mapped[str | None] = mapped_column(String(255))


class CampaignMatch(Base):
    __tablename__ = "campaign_match"
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"), primary_key=True)
    pardot_campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255))
    salesforce_campaign_id: Mapped[str | None] = mapped_column(String(18))


class SyncError(Base):
    """The sync error queue (R25–R27)."""
    __tablename__ = "sync_error"
    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(20))  # salesforce_to_pardot | pardot_to_salesforce
    sobject: Mapped[str] = mapped_column(String(20))  # Lead | Contact | Account | Prospect
    record_key: Mapped[str] = mapped_column(String(64))  # the source record: one open error per record and direction
    prospect_id: Mapped[int | None] = mapped_column(BigInteger)
    crm_id: Mapped[str | None] = mapped_column(String(18))
    email: Mapped[str | None] = mapped_column(String(255))
    category: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    next_retry_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | retrying | resolved | dismissed
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(255))
    __table_args__ = (Index("ix_sync_error_open", "connector_id", "status", "category"),
                      Index("ix_sync_error_record", "connector_id", "direction", "record_key"))


class CycleRun(Base):
    __tablename__ = "cycle_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16), default="running")  # running | ok | partial | failed
    prospects_synced: Mapped[bool] = mapped_column(Boolean, default=True)  # False while paused (R5)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    api_calls: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class ReactivationRequest(Base):
    """R7, R31."""
    __tablename__ = "reactivation_request"
    id: Mapped[int] = mapped_column(primary_key=True)
    connector_id: Mapped[int] = mapped_column(ForeignKey("connector.id", ondelete="CASCADE"))
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_via: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | approved | denied | expired | cancelled
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    checklist: Mapped[dict] = mapped_column(JSON, default=dict)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    # R37: what approval set off on the salesforce engine, e.g. {"unpause": "failed", "reason": "..."}
    outcome: Mapped[dict | None] = mapped_column(JSON)


class AuditEntry(Base):
    """R34: who, what, from where, when, outcome. Never holds a secret."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))  # slack | api | cli | system
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))  # ok | refused | failed
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_audit_at", "at"),)


class ApiToken(Base):
    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of a 256-bit random token
    prefix: Mapped[str] = mapped_column(String(12))  # shown in listings, never the secret
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class Job(Base):
    """Outcome of manual syncs and retries, readable after Redis forgets the RQ job."""
    __tablename__ = "job"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_via: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12), default="queued")  # queued | started | finished | failed
    outcome: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    notify: Mapped[dict] = mapped_column(JSON, default=dict)  # where to report the outcome (slack thread…)
