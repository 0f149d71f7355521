"""login sessions ended on the server; usernames keyed by RFC 8265 UsernameCaseMapped

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:40:00

"""
import precis_i18n
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id']),
        sa.PrimaryKeyConstraint('id_hash'),
    )
    op.create_index('ix_login_sessions_user_id', 'login_sessions', ['user_id'])
    op.create_index('ix_login_sessions_expires_at', 'login_sessions', ['expires_at'])

    # Keys were str.casefold() of the name; they become the profile's enforced form.
    # A name the profile refuses keeps its old key (that user can no longer sign in
    # until renamed), and so does a name whose new key another user holds already.
    profile = precis_i18n.get_profile('UsernameCaseMapped')
    users = sa.table('users', sa.column('id', sa.String), sa.column('username', sa.String),
                     sa.column('username_key', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.username, users.c.username_key))
    taken = set()
    changes = []
    for user_id, username, old_key in rows:
        taken.add(old_key)
        try:
            new_key = profile.enforce(username.strip())
        except UnicodeError:
            continue
        if new_key != old_key and len(new_key) <= 150:
            changes.append((user_id, new_key))
    for user_id, new_key in changes:
        if new_key in taken:
            continue
        taken.add(new_key)
        connection.execute(users.update().where(users.c.id == user_id)
                           .values(username_key=new_key))


def downgrade():
    op.drop_index('ix_login_sessions_expires_at', table_name='login_sessions')
    op.drop_index('ix_login_sessions_user_id', table_name='login_sessions')
    op.drop_table('login_sessions')
