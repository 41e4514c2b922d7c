"""Where one request's time goes: the real app, called in-process (ASGI, no sockets), under cProfile,
on a fresh database with 200 people; plus each part of the signed-in path timed on its own.

    .venv/bin/python bench/profile_requests.py [--backend sqlite|postgresql] [--requests 2000]
                                               [--path /api/v1/people?limit=50] [--top 25] [--no-parts]

Prints the parts' costs in microseconds, the whole request's, then cProfile's top functions by
cumulative and own time. FastAPI's worker-thread hops run inline (``--threads`` keeps them, and
cProfile then sees the event loop's thread only), so the profile shows all the Python work of a
request but not what the hops cost; a running server's whole picture: ``py-spy record -p PID``.
Never imported by tests.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchdb import scratch  # noqa: E402


def per_call(function: Callable[[], Any], count: int = 2000) -> float:
    """Microseconds per call (after a warm-up)."""
    for _ in range(50):
        function()
    started = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - started) / count * 1e6


async def drive(app: Any, path: str, token: str, count: int) -> float:
    """Call the ASGI app ``count`` times for GET ``path``; microseconds per request."""
    raw_path, _, query = path.partition("?")
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]

    async def one() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
                 "state": {}}
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        assert status == 200, status

    for _ in range(20):
        await one()
    started = time.perf_counter()
    for _ in range(count):
        await one()
    return (time.perf_counter() - started) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--path", default="/api/v1/people?limit=50",
                        help="{admin} in it stands for the admin's person id (/api/v1/people/{admin})")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-parts", action="store_true", help="only the whole request and its profile")
    parser.add_argument("--threads", action="store_true",
                        help="keep FastAPI's worker threads (cProfile then sees only the event loop's thread); by "
                             "default sync work runs inline so the profile shows all of it")
    parser.add_argument("--postgres", default=os.environ.get("LABGATE_TEST_POSTGRES",
                                                             "postgresql://root@127.0.0.1:5432/test"))
    args = parser.parse_args()
    if not args.threads:
        import anyio.to_thread

        async def inline(function: Callable[..., Any], *arguments: Any, **_: Any) -> Any:
            return function(*arguments)

        anyio.to_thread.run_sync = inline  # type: ignore[assignment]

    from server.app import create_app
    from server.core.database import Database
    from server.core.settings import Settings

    with scratch(args.backend, args.postgres, 200) as url:
        settings = Settings(database_url=url, faces_enabled=False)
        database = Database(url)
        app = create_app(settings, database)

        token, admin_id = _token(app)
        keys = app.state.auth_keys
        args.path = args.path.replace("{admin}", admin_id)
        if not args.no_parts:
            parts(database, keys, token)

        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_enter(app))
            per = loop.run_until_complete(drive(app, args.path, token, 200))
            print(f"{args.backend}: whole request in-process, GET {args.path}: {per:8.0f} µs")
            if not args.path.startswith("/health"):
                floor = _minimal(url)
                print(f"{args.backend}: bench/minimal_app.py's same answer, in-process:  "
                      f"{loop.run_until_complete(drive(floor, args.path, token, 200)):8.0f} µs")
            profile = cProfile.Profile()
            profile.enable()
            loop.run_until_complete(drive(app, args.path, token, args.requests))
            profile.disable()
        finally:
            loop.run_until_complete(_leave(app))
            loop.close()
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        database.dispose()
    return 0


def parts(database: Any, keys: Any, token: str) -> None:
    """Each part of the signed-in people page on its own, and /health's read, in microseconds."""
    from server.auth import service as auth
    from server.core import health
    from server.people import service as people
    from server.people.schemas import PeoplePage

    print("parts of GET /api/v1/people?limit=50, microseconds per call")
    with database.session() as session:
        print(f"  token check (JWT, then person and roles):  "
              f"{per_call(lambda: auth.actor_for(session, keys, token)):8.0f}")
        print(f"  page query (total, 50 people, roles):      "
              f"{per_call(lambda: people.search(session, None, None, None, 0, 50), 300):8.0f}")
        rows, total = people.search(session, None, None, None, 0, 50)
        plain = {"items": rows, "total": total, "offset": 0, "limit": 50}
        page = PeoplePage.model_validate(plain)
        validating = per_call(lambda: PeoplePage.model_validate(plain))
        print(f"  PeoplePage.model_validate:                 {validating:8.0f}")
        print(f"  model_dump_json of the page:               {per_call(page.model_dump_json):8.0f}")
    revisions = health.Revisions(database)
    print(f"  /health's revision read:                   {per_call(revisions.read):8.0f}")
    revisions.close()


_lifespans: list[Any] = []


async def _enter(app: Any) -> None:
    context = app.router.lifespan_context(app)
    await context.__aenter__()
    _lifespans.append(context)


async def _leave(app: Any) -> None:
    await _lifespans.pop().__aexit__(None, None, None)


def _minimal(url: str) -> Any:
    """bench/minimal_app.py's app on the same database (it takes no token and ignores the header)."""
    os.environ["LABGATE_DATABASE_URL"] = url
    from bench.minimal_app import create_app

    return create_app()


def _token(app: Any) -> tuple[str, str]:
    """An access token of the admin, and the admin's person id."""
    from server.auth import service as auth
    from server.people import service as people

    keys = app.state.auth_keys
    with app.state.database.session() as session:
        admin = people.by_number(session, "1970000001")
        assert admin is not None
        return auth._issue(session, keys, admin, "admin", family="bench").access_token, admin.id


if __name__ == "__main__":
    sys.exit(main())
