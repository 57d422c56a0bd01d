"""The peer: scim2-server (PyPI) with its in-memory storage, under the same uvicorn settings.

Run with the peer's own virtualenv (``bench/.venv-peer``, see ``bench/README.md``):

    bench/.venv-peer/bin/python bench/peer_app.py --port 8200 --users 10000 \\
        --token T --ids-out /tmp/peer-ids.txt

It builds scim2-server's dependency-free ASGI application over ``AsyncInMemoryStorage``
(the storage it ships; it has no SQL storage), accepts one static bearer token (as its
``scim2-server --bearer-token`` command does), seeds the users through the service's
own creation path (``read_creation`` then ``storage.create``: what a POST runs, without
HTTP), writes their ids in user order, and serves on one uvicorn worker. Its data lives
in the process, so it cannot run on two workers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import SCIM_JSON, user_doc  # noqa: E402


def build(token: str):
    from scim2_models import UnauthorizedException
    from scim2_server.applications.asgi import ASGIApplication
    from scim2_server.memory import AsyncInMemoryStorage, InMemoryStorage
    from scim2_server.service import ScimService
    from scim2_server.utils import load_default_provider

    class BearerASGIApplication(ASGIApplication):
        def check_auth(self, request) -> None:
            scheme, _, given = (request.header("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or given != token:
                raise UnauthorizedException

    provider = load_default_provider()
    service = ScimService(provider)
    storage = InMemoryStorage()
    app = BearerASGIApplication(AsyncInMemoryStorage(storage), provider, service)
    return app, service, storage


def seed(service, storage, users: int) -> list[str]:
    rtype = service.resource_type_at("/Users")
    ids = []
    with service.provider:
        for i in range(users):
            body = json.dumps(user_doc(i)).encode()
            ids.append(storage.create(rtype, service.read_creation(rtype, body, SCIM_JSON)).id)
    return ids


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="scim2-server peer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--ids-out", type=Path, required=True)
    args = parser.parse_args()
    app, service, storage = build(args.token)
    started = time.perf_counter()
    ids = seed(service, storage, args.users)
    args.ids_out.write_text("\n".join(ids) + "\n")
    print(f"seeded {len(ids)} users in {time.perf_counter() - started:.1f} s", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, workers=1, log_level="info",
                access_log=False, proxy_headers=False, server_header=False)


if __name__ == "__main__":
    main()
