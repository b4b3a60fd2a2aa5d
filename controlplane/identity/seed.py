"""Demo identities: organization, workspaces, people, OAuth clients, a service account and the demo
data plane's credentials. Idempotent; runs inside ``controlplane.seed.seed_demo``'s transaction.

Password rule on re-runs: a demo person's password is (re)set only when they are created or when
``LOCAL_ARTHUR_DEMO_PASSWORD`` differs from the value last applied; a password the person changed
themselves is kept. Machine and client secrets always follow the configured values, because the
processes using them (dashboard, agent) read the same settings.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password

from controlplane.identity.models import DataPlane, OAuthClient, Organization, PlatformUser, Workspace

ORGANIZATION = "Demo Org"
WORKSPACES = ("Production", "Research")
PEOPLE = (
    ("admin@example.com", "Ada", "Admin"),
    ("editor@example.com", "Eddie", "Editor"),
    ("viewer@example.com", "Vera", "Viewer"),
)
SERVICE_ACCOUNT_ID = "arthur-sa-demo"
SERVICE_ACCOUNT_SECRET = "arthur-sa-demo-secret"
DATA_PLANE_NAME = "Demo Engine"
CLI_CLIENT_ID = "scope-cli-client"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _seed_person(org: Organization, email: str, first: str, last: str, password: str) -> None:
    person, created = PlatformUser.objects.get_or_create(
        email=email,
        defaults={
            "organization": org,
            "user_type": PlatformUser.UserType.USER,
            "first_name": first,
            "last_name": last,
        },
    )
    marker = person.seeded_password_hash
    if created or (marker and not check_password(password, marker)):
        person.set_secret(password)
        person.seeded_password_hash = make_password(password)
        person.save(update_fields=["secret_hash", "seeded_password_hash", "updated_at"])


def _seed_machine(
    org: Organization, *, client_id: str, secret: str, user_type: str, name: str, **extra
) -> PlatformUser:
    machine, _ = PlatformUser.objects.update_or_create(
        client_id=client_id,
        defaults={"organization": org, "user_type": user_type, "first_name": name, "last_name": None, **extra},
    )
    if not machine.check_secret(secret):
        machine.set_secret(secret)
        machine.save(update_fields=["secret_hash", "updated_at"])
    return machine


def _add_once(values: list[str], value: str) -> list[str]:
    return values if value in values else [*values, value]


def _seed_clients(dashboard_url: str) -> None:
    dashboard, _ = OAuthClient.objects.get_or_create(
        client_id=settings.ARTHUR_CLIENT_ID,
        defaults={"name": "Arthur Tasks dashboard"},
    )
    dashboard.grant_types = ["authorization_code", "refresh_token"]
    dashboard.response_types = ["code"]
    dashboard.token_endpoint_auth_method = "client_secret_basic"
    # Added, never replaced: demos on other ports keep working (exact match per registered URI).
    dashboard.redirect_uris = _add_once(list(dashboard.redirect_uris), f"{dashboard_url}/accounts/callback")
    dashboard.post_logout_redirect_uris = _add_once(list(dashboard.post_logout_redirect_uris), f"{dashboard_url}/")
    if not dashboard.check_secret(settings.ARTHUR_CLIENT_SECRET):
        dashboard.set_secret(settings.ARTHUR_CLIENT_SECRET)
    dashboard.save()

    OAuthClient.objects.update_or_create(
        client_id=CLI_CLIENT_ID,
        defaults={
            "name": "Arthur CLI (scope-cli-client)",
            "grant_types": [DEVICE_CODE_GRANT, "refresh_token"],
            "response_types": [],
            "token_endpoint_auth_method": "none",
            "secret_hash": "",
        },
    )


def seed_identity(*, dashboard_url: str) -> str:
    """Create or bring up to date every demo identity; returns a one-line summary.

    `dashboard_url` is where the dashboard is served; its callback is added to the dashboard
    client's registered redirect URIs if missing.
    """
    dashboard_url = dashboard_url.rstrip("/")
    org, _ = Organization.objects.get_or_create(name=ORGANIZATION)
    workspaces = [Workspace.objects.get_or_create(organization=org, name=name)[0] for name in WORKSPACES]
    for email, first, last in PEOPLE:
        _seed_person(org, email, first, last, settings.LOCAL_ARTHUR_DEMO_PASSWORD)
    _seed_machine(
        org,
        client_id=SERVICE_ACCOUNT_ID,
        secret=SERVICE_ACCOUNT_SECRET,
        user_type=PlatformUser.UserType.SERVICE_ACCOUNT,
        name="Demo service account",
    )
    engine, _ = DataPlane.objects.get_or_create(
        workspace=workspaces[0],
        name=DATA_PLANE_NAME,
        defaults={
            "description": "The embedded Local Arthur engine.",
            "infrastructure": DataPlane.Infrastructure.DOCKER,
        },
    )
    existing = PlatformUser.objects.filter(data_plane=engine).exclude(client_id=settings.DATAPLANE_CLIENT_ID)
    existing.update(client_id=settings.DATAPLANE_CLIENT_ID)  # the configured id was changed
    _seed_machine(
        org,
        client_id=settings.DATAPLANE_CLIENT_ID,
        secret=settings.DATAPLANE_CLIENT_SECRET,
        user_type=PlatformUser.UserType.DATA_PLANE,
        name=DATA_PLANE_NAME,
        data_plane=engine,
    )
    _seed_clients(dashboard_url)
    return (
        f"identity: {ORGANIZATION} ({', '.join(WORKSPACES)}), {len(PEOPLE)} people, "
        f"clients {settings.ARTHUR_CLIENT_ID} + {CLI_CLIENT_ID}, {SERVICE_ACCOUNT_ID}, {settings.DATAPLANE_CLIENT_ID}"
    )
