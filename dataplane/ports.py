"""What the job executors need from the control plane, as a small port.

The executors speak to this protocol, never to HTTP: the agent plugs in `ArthurPort` (the
`arthur_api` client with client-credentials tokens), tests plug in a fake. Every method raises the
`arthur_api.errors` exceptions (`ArthurNotFound` for a 404 and so on) when the control plane refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from arthur_api.client import ArthurClient
from arthur_api.errors import ArthurNotFound
from arthur_api.records import Dataset, Model

ENGINE_CONNECTOR_TYPES = ("engine_internal", "shield")
TASK_ID_LOCATOR_KEY = "task_id"


@dataclass(frozen=True)
class DatasetRef:
    dataset_id: str
    connector_type: str | None


@dataclass(frozen=True)
class ModelInfo:
    id: str
    project_id: str
    name: str
    datasets: tuple[DatasetRef, ...] = ()


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    project_id: str
    connector_id: str | None
    locator: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectorInfo:
    id: str
    name: str
    connector_type: str
    project_id: str


class ControlPlanePort(Protocol):
    """The control-plane calls a task job makes (reference: arthur-platform.md §2.3)."""

    def get_model(self, model_id: str) -> ModelInfo: ...

    def create_model(self, project_id: str, body: dict[str, Any]) -> ModelInfo: ...

    def delete_model(self, model_id: str) -> None: ...

    def get_dataset(self, dataset_id: str) -> DatasetInfo: ...

    def create_dataset(self, connector_id: str, body: dict[str, Any]) -> DatasetInfo: ...

    def delete_dataset(self, dataset_id: str) -> None: ...

    def get_connector(self, connector_id: str) -> ConnectorInfo: ...

    def get_validation_key_id(self, model_id: str) -> str | None:
        """The engine id of the model's stored validation key; None when no connection info exists."""
        ...

    def put_connection_info(self, model_id: str, body: dict[str, Any]) -> None: ...

    def delete_connection_info(self, model_id: str) -> None: ...

    def put_task_cache(self, model_id: str, body: dict[str, Any]) -> None: ...


class ArthurPort:
    """`ControlPlanePort` over HTTP: the `arthur_api` client, records turned into the port's shapes."""

    def __init__(self, client: ArthurClient) -> None:
        self.client = client

    def get_model(self, model_id: str) -> ModelInfo:
        return _model_info(self.client.get_model(model_id))

    def create_model(self, project_id: str, body: dict[str, Any]) -> ModelInfo:
        return _model_info(self.client.post_model(project_id, body))

    def delete_model(self, model_id: str) -> None:
        self.client.delete_model(model_id)

    def get_dataset(self, dataset_id: str) -> DatasetInfo:
        return _dataset_info(self.client.get_dataset(dataset_id))

    def create_dataset(self, connector_id: str, body: dict[str, Any]) -> DatasetInfo:
        return _dataset_info(self.client.post_dataset(connector_id, body))

    def delete_dataset(self, dataset_id: str) -> None:
        self.client.delete_dataset(dataset_id)

    def get_connector(self, connector_id: str) -> ConnectorInfo:
        spec = self.client.get_connector_sensitive(connector_id)
        return ConnectorInfo(id=spec.id, name=spec.name, connector_type=spec.connector_type, project_id=spec.project_id)

    def get_validation_key_id(self, model_id: str) -> str | None:
        try:
            return self.client.get_task_connection_info(model_id).validation_key.id
        except ArthurNotFound:
            return None

    def put_connection_info(self, model_id: str, body: dict[str, Any]) -> None:
        self.client.put_task_connection_info(model_id, body)

    def delete_connection_info(self, model_id: str) -> None:
        self.client.delete_connection_info(model_id)

    def put_task_cache(self, model_id: str, body: dict[str, Any]) -> None:
        self.client.put_task_state_cache(model_id, body)


def _model_info(model: Model) -> ModelInfo:
    refs = tuple(DatasetRef(ref.dataset_id, ref.dataset_connector_type) for ref in model.datasets)
    return ModelInfo(id=model.id, project_id=model.project_id, name=model.name, datasets=refs)


def _dataset_info(dataset: Dataset) -> DatasetInfo:
    fields = (dataset.dataset_locator or {}).get("fields") or []
    locator = {str(item["key"]): str(item["value"]) for item in fields if isinstance(item, dict) and "key" in item}
    connector_id = (dataset.connector or {}).get("id")
    return DatasetInfo(
        id=dataset.id,
        project_id=dataset.project_id,
        connector_id=str(connector_id) if connector_id else None,
        locator=locator,
    )
