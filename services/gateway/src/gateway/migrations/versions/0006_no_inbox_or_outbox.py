"""the gateway has no inbox or outbox: drop the ones its first revision made

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The gateway consumes no command and emits no event through an outbox; databases made
    # before revisions 0001 and 0004 stopped creating the tables still have them, empty.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for table in ("outbox", "inbox"):
        if table in existing:
            op.drop_table(table)


def downgrade() -> None:
    pass  # nothing ever used them
