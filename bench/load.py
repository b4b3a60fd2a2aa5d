"""A closed-loop HTTP load generator in separate processes, bounded in time and in request count.

Each client is its own process (so the load does not share a GIL with anything) holding one
keep-alive HTTP/1.1 connection, and sends its next request as soon as the previous answer has been
read. Python's ``http.client`` is used rather than ``requests`` because it costs the client several
times less CPU per request, and on a two-core machine every cycle the client burns is taken from the
server it measures. Clients start together at a common instant and stop at a common deadline.
"""

from __future__ import annotations

import http.client
import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

OK_STATUSES = frozenset({200, 286})  # 286: htmx's "stop polling", the tracker's answer for a finished job
# A page that could not reach Arthur still answers 200, with the dashboard's designed failure banner (or
# the tracker's "unknown" state): such an answer is degraded, not a success.
DEGRADED_MARKERS = (b'data-failure="', b'data-job-state="unknown"')


@dataclass(frozen=True)
class Target:
    """What to ask for: a GET of ``url`` with ``headers`` (HX-Request...). Client ``i`` adds
    ``per_client[i % len(per_client)]`` (a person's cookies or token), so concurrent clients can be
    different people."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    per_client: tuple[dict[str, str], ...] = ()

    def headers_of(self, client: int) -> dict[str, str]:
        """The headers client number ``client`` sends."""
        if not self.per_client:
            return dict(self.headers)
        return {**self.headers, **self.per_client[client % len(self.per_client)]}


@dataclass
class LoadResult:
    """What the clients saw: latencies of the successful answers (seconds), every status's count,
    bytes received and connection failures."""

    target: str
    clients: int
    wall_seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    body_bytes: int
    failures: int
    degraded: int = 0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def bad(self) -> int:
        """Answers with an unexpected status, degraded answers, and connection failures."""
        unexpected = sum(count for status, count in self.statuses.items() if status not in OK_STATUSES)
        return unexpected + self.degraded + self.failures


# (host, port, paths, headers, start_at, deadline, max_requests) → one tally per path and the end time.
ClientJob = tuple[str, int, tuple[str, ...], dict[str, str], float, float, int]
ClientOutcome = tuple[list["_Tally"], float]


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    body_bytes: int = 0
    failures: int = 0
    degraded: int = 0

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + self.failures


def _client(args: ClientJob) -> ClientOutcome:
    """One client: requests ``paths`` in turn (one path, or a pair compared under the same load)."""
    host, port, paths, headers, start_at, deadline, max_requests = args
    tallies = [_Tally() for _ in paths]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    while time.time() < start_at:
        time.sleep(0.001)
    turn = 0
    while time.time() < deadline and sum(tally.sent for tally in tallies) < max_requests:
        tally, path = tallies[turn % len(paths)], paths[turn % len(paths)]
        turn += 1
        began = time.perf_counter()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            tally.failures += 1
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=30)
            continue
        elapsed = time.perf_counter() - began
        tally.body_bytes += len(body)
        tally.statuses[response.status] += 1
        if response.status in OK_STATUSES:
            if any(marker in body for marker in DEGRADED_MARKERS):
                tally.degraded += 1
            else:
                tally.latencies.append(elapsed)
        if response.will_close:
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=30)
    finished_at = time.time()
    connection.close()
    return tallies, finished_at


class LoadGenerator:
    """``clients`` client processes, started once and reused for every target (spawning processes
    on a busy two-core machine takes seconds, which must not eat into a measurement)."""

    def __init__(self, clients: int) -> None:
        if clients < 1:
            raise ValueError("need at least one client")
        self.clients = clients
        self._pool = multiprocessing.get_context("spawn").Pool(clients)
        # Every process up and its imports done before the first measurement.
        self._pool.map(_ready, range(clients * 4), chunksize=1)

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def run(self, target: Target, *, seconds: float, max_requests: int) -> LoadResult:
        """Drive ``target`` with every client for at most ``seconds`` and ``max_requests`` in total.

        Never raises for failed requests: they are counted in ``statuses`` and ``failures``
        (connection errors). Raises ValueError for a URL that is not plain http.
        """
        return self.run_paired([target], seconds=seconds, max_requests=max_requests)[0]

    def run_paired(self, targets: list[Target], *, seconds: float, max_requests: int) -> list[LoadResult]:
        """Drive several targets of one server at once, each client asking for them in turn (client
        ``i`` starting with target ``i``), so that their latencies are compared under the same load.

        Every target uses the first one's headers. Raises ValueError for URLs that are not plain
        http or not on one server.
        """
        parts = [urlsplit(target.url) for target in targets]
        if any(part.scheme != "http" or not part.hostname for part in parts):
            raise ValueError(f"only plain http URLs are benchmarked, not {[t.url for t in targets]!r}")
        if len({(part.hostname, part.port) for part in parts}) != 1:
            raise ValueError("paired targets must be on one server")
        paths = [part.path + (f"?{part.query}" if part.query else "") for part in parts]
        host, port = parts[0].hostname, parts[0].port or 80
        per_client = max(1, max_requests // self.clients)
        start_at = time.time() + 0.2  # every client starts at the same instant
        jobs = [
            (
                host,
                port,
                tuple(paths[i % len(paths) :] + paths[: i % len(paths)]),
                targets[0].headers_of(i),
                start_at,
                start_at + seconds,
                per_client,
            )
            for i in range(self.clients)
        ]
        outcomes = self._pool.map(_client, jobs, chunksize=1)
        wall = max(finished for _, finished in outcomes) - start_at
        results = []
        for index, target in enumerate(targets):
            # Client i's tallies are rotated by i: find target `index` in each.
            tallies = [tallies[(index - i) % len(paths)] for i, (tallies, _) in enumerate(outcomes)]
            results.append(_combine(target.name, self.clients, wall, tallies))
        return results


def _ready(_: int) -> None:
    time.sleep(0.05)


def _combine(name: str, clients: int, wall: float, tallies: list[_Tally]) -> LoadResult:
    statuses: Counter[int] = Counter()
    for tally in tallies:
        statuses.update(tally.statuses)
    return LoadResult(
        target=name,
        clients=clients,
        wall_seconds=wall,
        latencies=[latency for tally in tallies for latency in tally.latencies],
        statuses=dict(statuses),
        body_bytes=sum(tally.body_bytes for tally in tallies),
        failures=sum(tally.failures for tally in tallies),
        degraded=sum(tally.degraded for tally in tallies),
    )
