"""Reading one row by a unique key on the API's hot paths."""

from __future__ import annotations

from django.db.models import QuerySet


def only_row[T](qs: QuerySet[T]) -> T | None:
    """The row of a query on a unique key, or None: ``first()`` without its ORDER BY, which costs
    query compilation on every request (token, job, model reads) and orders nothing here."""
    return next(iter(qs[:1]), None)
