"""Runs and review notes.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``runs`` and ``review_notes``."""
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("model_name", sa.String(500), nullable=False),
        sa.Column("method", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=True),
        sqlite_autoincrement=True,  # never reuse the id of a deleted run
    )
    op.create_index("ix_runs_kind", "runs", ["kind"])
    op.create_index("ix_runs_model_name", "runs", ["model_name"])
    op.create_index("ix_runs_method", "runs", ["method"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_table(
        "review_notes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.id", ondelete="CASCADE", name="fk_review_notes_run_id"),
            nullable=False,
        ),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_review_notes_run_id", "review_notes", ["run_id"])


def downgrade() -> None:
    """Drop ``review_notes`` and ``runs``."""
    op.drop_index("ix_review_notes_run_id", table_name="review_notes")
    op.drop_table("review_notes")
    for name in ("ix_runs_created_at", "ix_runs_method", "ix_runs_model_name", "ix_runs_kind"):
        op.drop_index(name, table_name="runs")
    op.drop_table("runs")
