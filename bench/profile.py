"""Profile the requests whose budgets were missed, with pyinstrument, inside this process.

A dashboard page is run through Django's test client with the signed-in person's cookies: the whole
middleware stack and view run here under the profiler, while the page's calls to Arthur go over HTTP
to the running Local Arthur (as in production). Local Arthur's own endpoints are profiled the same
way with the person's bearer token. Each profile is written to ``var/bench/profiles/<name>.txt``;
the results keep the slowest frames that belong to this project's code.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import server

PROFILED_REQUESTS = 20
# A slow page is profiled for this long at most (at least one request): enough samples, bounded time.
PROFILE_SECONDS = 4.0
# Budgets (by measure prefix) → the targets whose profiles explain them.
EXPLAINS = {
    "poll_running": ("poll_running", "arthur_job"),
    "poll_finished": ("poll_finished",),
    "task_page": ("task_page", "arthur_task", "arthur_connection", "arthur_permissions"),
    "projects": ("projects_20", "projects_2000", "arthur_projects_2000"),
    "first_load": ("task_page",),
}
PROJECT_PACKAGES = ("accounts/", "arthur_api/", "tasks_ui/", "controlplane/", "dataplane/", "dashboard/")


def profile_misses(
    stack: server.Stack, seed: dict[str, Any], results: dict[str, Any], *, cookie: str, token: str
) -> dict[str, Any]:
    """Profile what explains each missed budget; returns ``{target: {"file", "hot"}}``.

    Returns ``{"skipped": reason}`` when pyinstrument is not installed (it is not a dependency of the
    product: ``pip install pyinstrument``).
    """
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return {"skipped": "pyinstrument is not installed"}
    missed = {row["measure"].split(".")[0] for row in results["budgets"] if row["verdict"] == "FAIL"}
    names = sorted({name for prefix in missed for name in EXPLAINS.get(prefix, ())})
    requests_by_name = _requests(seed, cookie, token)
    out_dir = server.VAR / "profiles"
    out_dir.mkdir(parents=True, exist_ok=True)
    return {name: _profile(name, *requests_by_name[name], out_dir) for name in names}


def _requests(seed: dict[str, Any], cookie: str, token: str) -> dict[str, tuple[str, dict]]:
    task = f"/projects/{seed['project_id']}/tasks/{seed['big_model_id']}/"
    person = {"cookie": cookie}
    bearer = {"authorization": f"Bearer {token}"}
    return {
        "poll_running": (f"/jobs/{seed['running_job_id']}/poll", {**person, "hx-request": "true"}),
        "poll_finished": (f"/jobs/{seed['finished_job_id']}/poll", {**person, "hx-request": "true"}),
        "task_page": (task, person),
        "projects_20": (f"/?workspace={seed['small_workspace_id']}", person),
        "projects_2000": (f"/?workspace={seed['large_workspace_id']}", person),
        "arthur_job": (f"/api/v1/jobs/{seed['running_job_id']}", bearer),
        "arthur_task": (f"/api/v1/models/{seed['big_model_id']}/task", bearer),
        "arthur_connection": (f"/api/v1/models/{seed['big_model_id']}/task/connection_info", bearer),
        "arthur_permissions": ("POST /api/v1/permissions/check", bearer),
        "arthur_projects_2000": (
            f"/api/v1/workspaces/{seed['large_workspace_id']}/projects?sort=name&order=asc&page=1&page_size=20",
            bearer,
        ),
    }


def _profile(name: str, path: str, headers: dict[str, str], out_dir: Path) -> dict[str, Any]:
    from django.test import Client
    from pyinstrument import Profiler

    client = Client(SERVER_NAME="127.0.0.1", headers=headers)
    method, _, path = path.rpartition(" ")
    body = _permissions_body() if method == "POST" else None
    call = (
        (lambda: client.post(path, body, content_type="application/json")) if body else (lambda: client.get(path))
    )
    status = call().status_code  # warm caches and imports outside the profile
    profiler = Profiler(interval=0.0005)
    deadline = time.monotonic() + PROFILE_SECONDS
    profiled = 0
    profiler.start()
    while profiled < PROFILED_REQUESTS and (profiled == 0 or time.monotonic() < deadline):
        call()
        profiled += 1
    profiler.stop()
    target = out_dir / f"{name}.txt"
    target.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    # Every frame (Django's template engine, requests, psycopg...): where inside a library the time goes.
    target.with_name(f"{name}-all.txt").write_text(profiler.output_text(unicode=False, color=False, show_all=True))
    session = profiler.last_session
    return {
        "file": str(target.relative_to(server.ROOT)),
        "status": status,
        "requests": profiled,
        "wall_ms_per_request": round(session.duration * 1000 / profiled, 1),
        "cpu_ms_per_request": round(session.cpu_time * 1000 / profiled, 1),
        "hot": hot_frames(profiler, limit=10),
    }


def _permissions_body() -> dict[str, Any]:
    # The task page's one batched question (the names come from the dashboard's own view).
    from controlplane.models import PlatformModel
    from tasks_ui.views import TASK_ACTIONS

    model_id = str(PlatformModel.objects.filter(name="bench-task-00").values_list("id", flat=True).get())
    return {
        "permissions": [
            {"resource_kind": "model", "resource_id": model_id, "permission_name": name} for name in TASK_ACTIONS
        ]
    }


def hot_frames(profiler: Any, *, limit: int) -> dict[str, list[dict[str, Any]]]:
    """Where the time goes, as shares of the profile's wall time, slowest first:

    - ``own``: each of the project's functions with the time under it that is not under another of the
      project's functions (so a view's template rendering counts for the view, a client call for the
      client, and wrappers such as middleware weigh nothing);
    - ``self``: every function (libraries included) by the time spent in its own body.
    """
    root = profiler.last_session.root_frame()
    if root is None or not root.time:
        return {"own": [], "self": []}
    own: dict[str, float] = {}
    self_time: dict[str, float] = {}

    def project_descendants_time(frame: Any) -> float:
        return sum(child.time if _is_project(child) else project_descendants_time(child) for child in frame.children)

    def walk(frame: Any) -> None:
        where = _where(frame)
        if _is_project(frame):
            own[where] = own.get(where, 0.0) + frame.time - project_descendants_time(frame)
        if not frame.is_synthetic:
            self_time[where] = self_time.get(where, 0.0) + frame.total_self_time
        for child in frame.children:
            walk(child)

    walk(root)

    def ranked(totals: dict[str, float]) -> list[dict[str, Any]]:
        best = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:limit]
        return [{"function": where, "share": round(seconds / root.time, 3)} for where, seconds in best if seconds > 0]

    return {"own": ranked(own), "self": ranked(self_time)}


def _where(frame: Any) -> str:
    return f"{_short_path(frame.file_path)}:{frame.function}" if frame.file_path else frame.function


def _is_project(frame: Any) -> bool:
    return bool(frame.file_path) and _short_path(frame.file_path).startswith(PROJECT_PACKAGES)


def _short_path(file_path: str) -> str:
    path = Path(file_path)
    if "site-packages" in path.parts:  # a library: from its package down ("django/template/base.py")
        return "/".join(path.parts[path.parts.index("site-packages") + 1 :])
    try:
        return str(path.resolve().relative_to(server.ROOT))
    except ValueError:
        return file_path
