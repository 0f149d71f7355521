"""The grant store: sites, users, apps, grants and tokens. Knows nothing of HTTP.

Errors: every refusal is a ``CoreError`` (``errors``) with a stable code.
Transactions: core functions add and flush, never commit or roll back; the
request or CLI command that called them commits once at its end. The steps a
race decides (code redemption, refresh rotation, ``touch``) and purge batches
commit themselves through ``transaction.own_transaction``, the one helper for it.
"""
