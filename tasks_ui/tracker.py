"""The job tracker fragment, shared by every page where a job starts or is shown.

It is a self-replacing poller: while the job is queued or running the fragment carries
``hx-trigger="load delay:Ns"`` and ``hx-swap="outerHTML"``, and the server picks N (1 s at first,
easing to 5 s for long jobs). On a terminal state the answer is the final fragment *without* a
trigger, sent with django-htmx's ``HttpResponseStopPolling`` (286): htmx 2 cancels polling on 286
and swaps the fragment; htmx 4, which ignores 286, still swaps a fragment that polls no more. The
terminal answer also carries the ``job-finished`` HX-Trigger event so regions listening with
``hx-trigger="job-finished from:body"`` (the task panel, the job details) read themselves again.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from arthur_api.records import Job
from tasks_ui.selectors import job_elapsed_seconds

TRACKER_TEMPLATE = "htmx/job_tracker.html"
JOB_FINISHED_EVENT = "job-finished"
# (elapsed seconds below, poll delay): every second at first, easing to five seconds.
_DELAYS: tuple[tuple[int, int], ...] = ((10, 1), (30, 2), (60, 3), (120, 4))
_LONGEST_DELAY = 5
UNAVAILABLE_DELAY = 5


def poll_delay(elapsed_seconds: int) -> int:
    """Seconds until the next poll for a job that has been going for ``elapsed_seconds``."""
    return next((delay for below, delay in _DELAYS if elapsed_seconds < below), _LONGEST_DELAY)


def tracker_context(job: Job, *, compact: bool = False) -> dict[str, object]:
    """What ``htmx/job_tracker.html`` needs for ``job`` (``compact``: one line, for tables)."""
    elapsed = job_elapsed_seconds(job, now=timezone.now())
    return {
        "job": job,
        "elapsed": elapsed,
        "delay": None if job.is_terminal else poll_delay(elapsed),
        "compact": compact,
    }


def tracker_response(request: HttpRequest, job: Job, *, compact: bool = False) -> HttpResponse:
    """The tracker fragment as a poll answer: stop polling and announce the end on a terminal state.

    Use it wherever a job starts (issue 8's submit views return it) and for every poll.
    """
    html = render_to_string(TRACKER_TEMPLATE, tracker_context(job, compact=compact), request=request)
    if not job.is_terminal:
        return HttpResponse(html)
    response = HttpResponseStopPolling(html)
    return trigger_client_event(response, JOB_FINISHED_EVENT, {"job_id": job.id, "state": job.state})


def tracker_unavailable_response(request: HttpRequest, job_id: str, message: str, *, compact: bool) -> HttpResponse:
    """A poll that could not reach Arthur: say so and keep polling, more slowly (a 200, so it is swapped)."""
    context = {"job_id": job_id, "delay": UNAVAILABLE_DELAY, "message": message, "compact": compact}
    return HttpResponse(render_to_string(TRACKER_TEMPLATE, context, request=request))
