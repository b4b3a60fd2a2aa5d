"""Demo projects, connectors, task models, jobs and role bindings (filled by the control-plane issue)."""


def seed_platform() -> str:
    return ""
