"""Per-address throttles behind a reverse proxy (issue 10): ``dashboard.client_address``.

X-Forwarded-For is believed only from a peer in TRUSTED_PROXIES, read from the right, skipping
trusted proxies; from anyone else it is ignored. Then through the real endpoints: two clients behind
a trusted proxy are throttled separately, while without TRUSTED_PROXIES a spoofed header changes
nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.test import RequestFactory

from dashboard.client_address import client_address

ROOT = Path(__file__).resolve().parents[2]
PROXY = "10.0.0.5"


def _address(settings, proxies: list[str], remote: str, forwarded: str | None = None) -> str:
    settings.TRUSTED_PROXIES = proxies
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


def test_without_trusted_proxies_the_direct_peer_is_the_client(settings) -> None:
    assert _address(settings, [], "198.51.100.7") == "198.51.100.7"
    assert _address(settings, [], "198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_a_trusted_proxy_names_the_client(settings) -> None:
    assert _address(settings, [PROXY], PROXY, "203.0.113.9") == "203.0.113.9"
    # Whatever the client wrote itself sits left of what the proxy appended: it is never reached.
    assert _address(settings, [PROXY], PROXY, "1.2.3.4, 203.0.113.9") == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_skipped_from_the_right(settings) -> None:
    proxies = ["10.0.0.0/8", "192.0.2.10"]
    chain = "6.6.6.6, 203.0.113.9, 10.1.2.3, 192.0.2.10"
    assert _address(settings, proxies, PROXY, chain) == "203.0.113.9"
    # Every hop trusted: the furthest one is as close to the client as anyone vouches for.
    assert _address(settings, proxies, PROXY, "10.9.9.9, 192.0.2.10") == "10.9.9.9"
    # No header at all: the proxy itself.
    assert _address(settings, proxies, PROXY) == PROXY


def test_an_untrusted_peer_cannot_choose_its_address(settings) -> None:
    spoofed = "203.0.113.1, 10.0.0.5"
    assert _address(settings, [PROXY], "198.51.100.7", spoofed) == "198.51.100.7"
    # A peer that merely claims, in the header, to be a trusted proxy is still just itself.
    assert _address(settings, ["10.0.0.0/8"], "198.51.100.7", "10.0.0.5") == "198.51.100.7"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("", PROXY),
        ("not-an-address", PROXY),
        ("203.0.113.9, ", PROXY),  # an empty last hop
        ("203.0.113.9, unknown", PROXY),  # garbage ends the walk: never what lies left of it
        ("unknown, 203.0.113.9", "203.0.113.9"),
        ("999.1.1.1", PROXY),
        ("203.0.113.9:4711", "203.0.113.9"),  # a port some proxies add
        ("[2001:db8::9]:443", "2001:db8::9"),
        ("1.2.3.4\x00, 203.0.113.9", "203.0.113.9"),
        ("," * 5000, PROXY),
    ],
)
def test_malformed_headers_are_ignored_safely(settings, forwarded: str, expected: str) -> None:
    assert _address(settings, [PROXY], PROXY, forwarded) == expected


def test_ipv6(settings) -> None:
    proxies = ["2001:db8:ffff::/48", "::1"]
    assert _address(settings, proxies, "::1", "2001:db8::9, 2001:db8:ffff::2") == "2001:db8::9"
    assert _address(settings, proxies, "2001:db8:1::1", "203.0.113.9") == "2001:db8:1::1"
    # Spelled differently, the same address: one throttle bucket.
    assert _address(settings, [], "2001:DB8:0:0:0:0:0:9") == "2001:db8::9"
    # An IPv4 client seen through a dual-stack socket counts as its IPv4 address, trusted or not.
    assert _address(settings, [PROXY], "::ffff:10.0.0.5", "::ffff:203.0.113.9") == "203.0.113.9"
    # An IPv4 proxy list never matches an IPv6 peer.
    assert _address(settings, ["0.0.0.0/0"], "2001:db8::1", "203.0.113.9") == "2001:db8::1"


def test_an_invalid_trusted_proxies_entry_stops_the_start() -> None:
    code = "import django; django.setup()"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings", "DASHBOARD_MODE": "test"}
    bad = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "TRUSTED_PROXIES": "10.0.0.1, proxy.internal"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0 and "TRUSTED_PROXIES: 'proxy.internal'" in bad.stderr
    good = subprocess.run(
        [sys.executable, "-c", code + "; from django.conf import settings; print(settings.TRUSTED_PROXIES)"],
        cwd=ROOT,
        env={**env, "TRUSTED_PROXIES": "10.0.0.1, 172.16.0.0/12,::1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "['10.0.0.1', '172.16.0.0/12', '::1']"


# --- through the real endpoints -----------------------------------------------------------------------

CLIENT_A, CLIENT_B = "203.0.113.10", "203.0.113.20"
LOOPBACK = ["127.0.0.1", "::1"]  # the live server's peer: the test process, standing in for the proxy


def _guess(token_url: str, forwarded_for: str, client_id: str = "stuffed") -> requests.Response:
    return requests.post(
        token_url,
        data={"grant_type": "client_credentials"},
        auth=(client_id, "wrong-secret"),
        headers={"X-Forwarded-For": forwarded_for},
        timeout=30,
    )


@pytest.fixture
def token_url(local_arthur, settings) -> str:
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_CLIENT = 100
    settings.LOCAL_ARTHUR_TOKEN_FAILURES_PER_ADDRESS = 3
    return f"{local_arthur}/api/v1/auth/oidc/token"


def test_token_endpoint_throttles_clients_behind_a_trusted_proxy_separately(token_url, settings) -> None:
    settings.TRUSTED_PROXIES = LOOPBACK
    for number in range(3):
        assert _guess(token_url, CLIENT_A, f"stuffed-{number}").status_code == 401
    assert _guess(token_url, CLIENT_A).status_code == 429
    # B, behind the same proxy, has its own bucket.
    for number in range(3):
        assert _guess(token_url, CLIENT_B, f"stuffed-{number}").status_code == 401
    assert _guess(token_url, CLIENT_B).status_code == 429
    # A client cannot walk out of its bucket by prepending another address: the proxy appended A.
    assert _guess(token_url, f"198.51.100.99, {CLIENT_A}").status_code == 429


def test_token_endpoint_ignores_a_spoofed_header_without_trusted_proxies(token_url, settings) -> None:
    settings.TRUSTED_PROXIES = []
    for number in range(3):
        assert _guess(token_url, f"203.0.113.{number}", f"stuffed-{number}").status_code == 401
    # A fresh X-Forwarded-For on every guess changed nothing: the peer's one bucket is full.
    assert _guess(token_url, CLIENT_B).status_code == 429


def test_sign_in_throttles_per_forwarded_client(client, db, settings, monkeypatch) -> None:
    from controlplane.identity import signin

    monkeypatch.setattr(signin, "MAX_FAILURES_PER_ADDRESS", 2)
    settings.TRUSTED_PROXIES = [PROXY]

    def attempt(forwarded: str, number: int) -> int:
        data = {"email": f"nobody{number}@example.com", "password": "wrong"}  # a new account each time
        return client.post(
            "/api/v1/auth/oidc/login", data, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded
        ).status_code

    assert [attempt(CLIENT_A, n) for n in range(3)] == [400, 400, 429]
    assert [attempt(CLIENT_B, n) for n in range(3, 6)] == [400, 400, 429]
    # Not from a trusted proxy: the header is ignored, a new one on each attempt buys nothing.
    settings.TRUSTED_PROXIES = []
    assert [attempt(f"198.51.100.{n}", n) for n in range(6, 9)] == [400, 400, 429]
