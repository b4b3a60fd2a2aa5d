"""The benchmark's ceiling: the cheapest answer Django can give behind the project's own middleware.

Mounted at ``/bench/ceiling`` only when ``BENCH_CEILING=1`` (``make bench`` sets it); every page's
throughput is reported as a ratio to this view's, measured in the same run on the same server.
"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET


@require_GET
def ceiling(request: HttpRequest) -> HttpResponse:
    """A few bytes, no database, no template, no upstream call."""
    return HttpResponse(b"ok\n", content_type="text/plain")
