"""Demo identities (filled by the identity issue)."""


def seed_identity() -> str:
    return "no identities yet"
