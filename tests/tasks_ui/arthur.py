"""Talking to Local Arthur from tests as people and as the data plane would (over HTTP, through arthur_api)."""

from __future__ import annotations

from dataclasses import dataclass

from arthur_api.auth import BearerTokenAuth
from arthur_api.client import ArthurClient
from arthur_api.records import JobRun


def client_for(base_url: str, token: str) -> ArthurClient:
    return ArthurClient(base_url, BearerTokenAuth(lambda: token))


@dataclass(frozen=True)
class DemoTask:
    project_id: str
    model_id: str


def find_task(client: ArthurClient, project_name: str, model_name: str) -> DemoTask:
    """The ids of a seeded task model, found by browsing as the client's identity."""
    for workspace in client.get_workspaces().records:
        for project in client.get_projects(workspace.id, name=project_name).records:
            if project.name != project_name:
                continue
            for model in client.get_models(project.id, name=model_name).records:
                if model.name == model_name:
                    return DemoTask(project_id=project.id, model_id=model.id)
    raise LookupError(f"{project_name}/{model_name} is not in the demo data")


class FakeDataPlane:
    """Claims and finishes jobs as the seeded data plane does, without executing them."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = client_for(base_url, token)
        self.data_plane_id = self.client.get_users_me().data_plane_id

    def claim(self) -> JobRun:
        run = self.client.post_dequeue_job(self.data_plane_id)
        assert run is not None, "no job was waiting"
        return run

    def finish(self, run: JobRun, state: str = "completed", *, logs: tuple[tuple[str, str], ...] = ()) -> None:
        if logs:
            from django.utils import timezone

            self.client.post_job_logs(
                run.job_id,
                run.id,
                [
                    {"log_level": level, "log": text, "log_timestamp": timezone.now().isoformat()}
                    for level, text in logs
                ],
            )
        self.client.put_job_state(run.job_id, run.id, state)
