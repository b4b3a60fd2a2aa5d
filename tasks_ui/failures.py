"""What a page shows for each way talking to Arthur can fail.

- unavailable (timeout, connection error, 5xx): the view keeps rendering what it could read and shows
  a banner with a retry link (``soft``); when nothing at all could be read, a 503 page with retry;
- forbidden (403): a page naming the missing permission;
- not found (404): a not-found page;
- unauthenticated (401, or no usable sign-in): left to ``accounts.middleware.SignInMiddleware``, which
  forgets the tokens and sends the person to sign in again (HTMX: django-htmx's client redirect);
- anything else Arthur answers: a 502 page saying so. Never a traceback.

HTMX requests get the same messages as a banner in ``#messages`` (retargeted with django-htmx), so
the region that asked is left intact and can try again.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.http import reswap, retarget

from arthur_api.errors import (
    ArthurError,
    ArthurForbidden,
    ArthurNotFound,
    ArthurUnauthenticated,
    ArthurUnavailable,
)
from tasks_ui.selectors import permissions_forget

logger = logging.getLogger(__name__)

_PERMISSION_IN_MESSAGE = re.compile(r"permission:?\s*([a-z][a-z0-9_]+)\s*$", re.IGNORECASE)


def missing_permission(exc: ArthurForbidden) -> str | None:
    """The permission a 403 names: the body's field, else the end of the message ("Missing permission: x")."""
    if exc.permission:
        return exc.permission
    match = _PERMISSION_IN_MESSAGE.search(exc.message or "")
    return match.group(1) if match else None


@dataclass
class Soft[T]:
    """The result of a read that may find Arthur unavailable: ``value`` or ``unavailable`` (a message)."""

    value: T | None = None
    unavailable: str | None = None


def soft[T](read: Callable[[], T]) -> Soft[T]:
    """Run ``read``; an ``ArthurUnavailable`` becomes ``Soft(unavailable=message)`` so the page can go on.

    Every other failure propagates to ``arthur_page``.
    """
    try:
        return Soft(value=read())
    except ArthurUnavailable as exc:
        logger.warning("Arthur unavailable: %s", exc.message)
        return Soft(unavailable=exc.message)


def forget_permissions(request: HttpRequest) -> None:
    """After a 403 the person's kept permission answers may be wrong: ask Arthur again next time."""
    if request.user.is_authenticated:
        permissions_forget(user=request.user)


def failure_response(request: HttpRequest, *, kind: str, status: int, **context: object) -> HttpResponse:
    """The failure page (or, for HTMX, a banner swapped into ``#messages``)."""
    context = {"kind": kind, "retry_url": request.get_full_path(), **context}
    if request.htmx:
        if request.htmx.current_url_abs_path:
            context["retry_url"] = request.htmx.current_url_abs_path
        response = render(request, "htmx/failure.html", context)
        return reswap(retarget(response, "#messages"), "innerHTML")
    return render(request, "tasks_ui/failure.html", context, status=status)


def arthur_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Map the Arthur failures a view did not handle itself to their designed page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ArthurUnauthenticated:
            raise  # the sign-in middleware's job: sign out here, sign in again there
        except ArthurForbidden as exc:
            forget_permissions(request)
            return failure_response(
                request, kind="forbidden", status=403, permission=missing_permission(exc), message=exc.message
            )
        except ArthurNotFound as exc:
            return failure_response(request, kind="not_found", status=404, message=exc.message)
        except ArthurUnavailable as exc:
            return failure_response(request, kind="unavailable", status=503, message=exc.message)
        except ArthurError as exc:
            logger.warning("Arthur answered unexpectedly: %s", exc.message)
            return failure_response(request, kind="error", status=502, message=exc.message)

    return wrapper
