"""OpenID claims on users; public clients, PKCE and post-logout URIs on clients;
remembered consents

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('given_name', sa.String(length=100), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('family_name', sa.String(length=100), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('phone_number', sa.String(length=40), nullable=False,
                                   server_default=''))
        batch.add_column(sa.Column('address', sa.Text(), nullable=False, server_default=''))
        batch.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('oauth_clients') as batch:
        batch.alter_column('secret_hash', existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column('public', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('require_pkce', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column('post_logout_redirect_uris', sa.Text(), nullable=False,
                                   server_default='[]'))
    op.create_table(
        'oauth_consents',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('client_pk', sa.String(length=36), nullable=False),
        sa.Column('scope', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['client_pk'], ['oauth_clients.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('uq_oauth_consents_user_client', 'oauth_consents',
                    ['user_id', 'client_pk'], unique=True)
    op.create_index('ix_oauth_consents_client_pk', 'oauth_consents', ['client_pk'])


def downgrade():
    op.drop_index('ix_oauth_consents_client_pk', table_name='oauth_consents')
    op.drop_index('uq_oauth_consents_user_client', table_name='oauth_consents')
    op.drop_table('oauth_consents')
    with op.batch_alter_table('oauth_clients') as batch:
        batch.drop_column('post_logout_redirect_uris')
        batch.drop_column('require_pkce')
        batch.drop_column('public')
        batch.alter_column('secret_hash', existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table('users') as batch:
        for column in ('updated_at', 'address', 'phone_number', 'family_name', 'given_name'):
            batch.drop_column(column)
