"""Tags on runs, and the model revision of each run.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``runs.model_revision`` (batch mode, so SQLite copies the table) and ``run_tags``."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("model_revision", sa.String(200), nullable=True))
    op.create_table(
        "run_tags",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.id", ondelete="CASCADE", name="fk_run_tags_run_id"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(100), primary_key=True),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag"])


def downgrade() -> None:
    """Drop ``run_tags`` and ``runs.model_revision``."""
    op.drop_index("ix_run_tags_tag", table_name="run_tags")
    op.drop_table("run_tags")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("model_revision")
