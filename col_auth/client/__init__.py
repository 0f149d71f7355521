"""What third-party apps import: the client side of col_auth's protocols (contract §7).

Depends only on ``requests`` and PyJWT; importing it does not load the server.
"""

from .legacy import (
    SITE_TOKEN_TYPE,
    USER_TOKEN_TYPE,
    AuthorizationError,
    Cancelled,
    LegacyClient,
    MemoryReplayStore,
    PacketError,
    ReplayStore,
    TokenGrant,
)
from .oauth import (
    CredentialStore,
    FileCredentialStore,
    InteractionRequired,
    MemoryCredentialStore,
    OAuth2Connection,
    OAuth2Error,
    Status,
)

__all__ = [
    "SITE_TOKEN_TYPE",
    "USER_TOKEN_TYPE",
    "AuthorizationError",
    "Cancelled",
    "CredentialStore",
    "FileCredentialStore",
    "InteractionRequired",
    "LegacyClient",
    "MemoryCredentialStore",
    "MemoryReplayStore",
    "OAuth2Connection",
    "OAuth2Error",
    "PacketError",
    "ReplayStore",
    "Status",
    "TokenGrant",
]
