"""The failures the Arthur API client raises: one small hierarchy, mapped once in ``ArthurClient._request``.

Callers catch ``ArthurError`` for "anything went wrong talking to Arthur" and the subclasses for the
cases a page or the agent treats differently (retry later, sign in again, no permission, gone, fix
the input). Messages never contain tokens or secrets.
"""

from __future__ import annotations

from dataclasses import dataclass


class ArthurError(Exception):
    """Any failure of a call to the Arthur API; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ArthurUnavailable(ArthurError):
    """Arthur could not answer: timeout, connection error, 5xx or 429. Retrying later may work.

    ``may_have_arrived`` is True for a write that reached Arthur before the answer was lost (it timed
    out waiting for the answer, or a gateway answered 504): Arthur may have done it.
    """

    def __init__(self, message: str, *, status: int | None = None, may_have_arrived: bool = False) -> None:
        super().__init__(message, status=status)
        self.may_have_arrived = may_have_arrived


class ArthurUnauthenticated(ArthurError):
    """401: the token is missing, expired or revoked (or client credentials were refused)."""


class ArthurForbidden(ArthurError):
    """403: signed in, but not allowed; ``permission`` names the missing permission when Arthur says."""

    def __init__(self, message: str, *, status: int | None = 403, permission: str | None = None) -> None:
        super().__init__(message, status=status)
        self.permission = permission


class ArthurNotFound(ArthurError):
    """404: the resource does not exist (or is not visible to this identity)."""


@dataclass(frozen=True)
class FieldError:
    """One entry of a FastAPI validation error: where (``loc``), what (``msg``) and its ``type``."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = ""

    @property
    def field(self) -> str:
        """The field name: the last element of ``loc`` that is a string ("body", "query" dropped)."""
        names = [str(part) for part in self.loc if isinstance(part, str) and part not in {"body", "query"}]
        return ".".join(names)


class ArthurRejected(ArthurError):
    """400/409/422: Arthur refused the input. ``message`` says why; ``field_errors`` lists 422 entries."""

    def __init__(
        self, message: str, *, status: int | None = None, field_errors: tuple[FieldError, ...] = ()
    ) -> None:
        super().__init__(message, status=status)
        self.field_errors = field_errors
