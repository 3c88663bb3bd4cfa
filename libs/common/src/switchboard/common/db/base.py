"""The declarative base and the columns every table shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

#: Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime: SQLite gives back naive ones (stored as UTC),
    PostgreSQL aware ones in its session's ``TimeZone``, which is the host's local zone
    wherever ``initdb`` found one."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base; tables that belong to one business also mix in :class:`TenantOwned`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Timestamped:
    """Creation and update times."""

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now()
    )


class TenantOwned:
    """A row that belongs to exactly one business; row-level security keys on this column.

    ``business_id`` gets an index of its own unless the table's unique key starts with it
    (``business_id_leads_unique_key``): that key's index serves every lookup by business, and
    a second one would cost every write and, before PostgreSQL has statistics for the table,
    tempt the planner into reading all of a business's rows to find one by its key.
    """

    business_id_leads_unique_key: ClassVar[bool] = False

    @declared_attr
    def business_id(cls) -> Mapped[int]:  # noqa: N805 - SQLAlchemy's declared_attr signature
        return mapped_column(
            BigId,
            ForeignKey("businesses.id", ondelete="CASCADE"),
            nullable=False,
            index=not cls.business_id_leads_unique_key,
        )


def tenant_tables() -> list[str]:
    """Names of every table that carries ``business_id`` (and so row-level security)."""
    return sorted(
        table.name for table in Base.metadata.sorted_tables if "business_id" in table.columns
    )
