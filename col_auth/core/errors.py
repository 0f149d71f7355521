"""Errors the core raises: a stable code for machines and a message for a person."""

from __future__ import annotations


class CoreError(Exception):
    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ValidationError(CoreError):
    code = "invalid_request"


class NotFound(CoreError):
    code = "not_found"


class Conflict(CoreError):
    code = "conflict"


class PermissionDenied(CoreError):
    code = "forbidden"


class OAuthError(CoreError):
    """An OAuth2 error with its RFC 6749 §5.2 code (``invalid_grant``, ``invalid_scope``…)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message, code)
        self.status = status
