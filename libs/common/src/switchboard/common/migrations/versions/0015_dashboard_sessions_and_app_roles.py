"""Dashboard sessions kept in the database, and the system role for a login role that owns
nothing.

``dashboard_sessions``: one row per logged-in dashboard session (the SHA-256 of the token in
its signed cookie, the API key it was opened with, when it expires). Logging out deletes the
row, so a cookie kept from before is worth nothing; revoking the key ends its sessions.

On PostgreSQL, ``switchboard_system`` (no login) gets the rights on every table and sequence,
present and future, and a ``system_access`` policy on every table with row-level security
that opens all rows while the transaction has no tenant set. A service may then log in as a
role that owns nothing and is a member of ``switchboard_app`` and ``switchboard_system``
(``switchboard db grant-app-role``): its tenants' units of work switch to ``switchboard_app``
as before, its cross-tenant work runs as itself, and inside a tenant's transaction neither
``RESET ROLE`` nor ``SET ROLE switchboard_system`` shows another tenant's rows.

Revision ID: 0015
Revises: 0014
Create Date: 2027-01-20
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.rls import (
    SYSTEM_ROLE,
    create_system_role_sql,
    secure_new_table_sql,
    system_access_sql,
)
from switchboard.common.settings import get_settings

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_SECURED_TABLES = sa.text(
    "SELECT relname FROM pg_class WHERE relrowsecurity AND relkind = 'r' "
    "AND relnamespace = 'public'::regnamespace ORDER BY relname"
)


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("business_id", BIG_ID, nullable=False),
        sa.Column("api_key_id", BIG_ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_dashboard_sessions_business_id_businesses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_dashboard_sessions_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_dashboard_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_dashboard_sessions_business_id"), "dashboard_sessions", ["business_id"]
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for statement in create_system_role_sql():
        op.execute(statement)
    for statement in secure_new_table_sql("dashboard_sessions", get_settings().db_app_role):
        op.execute(statement)
    for table in bind.execute(_SECURED_TABLES).scalars():
        for statement in system_access_sql(table):
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in bind.execute(_SECURED_TABLES).scalars():
            op.execute(f"DROP POLICY IF EXISTS system_access ON {table}")
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {SYSTEM_ROLE}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {SYSTEM_ROLE}")
        for kind in ("TABLES", "SEQUENCES"):
            op.execute(
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON {kind} FROM {SYSTEM_ROLE}"
            )
    op.drop_index("ix_dashboard_sessions_business_id", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
