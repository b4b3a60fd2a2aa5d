"""Demo identities (filled by the identity issue)."""


def seed_identity(*, dashboard_url: str) -> str:
    return "no identities yet"
