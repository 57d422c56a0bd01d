"""The ceiling: a bare ASGI app answering every request with a fixed 1 KB JSON user.

Served by uvicorn with the settings ``scimd serve`` uses (uvloop and httptools where
installed, no access log, no proxy headers, no server header, the same worker count),
so the gap between it and scimd is scimd's own work.

    .venv/bin/python bench/ceiling_app.py --port 8100 [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import SCIM_JSON, ceiling_body  # noqa: E402

BODY = ceiling_body()
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", SCIM_JSON.encode()),
                     (b"content-length", str(len(BODY)).encode())]}
END = {"type": "http.response.body", "body": BODY}


async def lifespan(receive, send) -> None:
    """Answer the ASGI lifespan protocol: nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    await send(START)
    await send(END)


def serve(app_path: str, host: str, port: int, workers: int = 1) -> None:
    """Serve ``app_path`` (``module:attribute`` in bench/) as ``scimd serve`` would."""
    import uvicorn

    # The keyword arguments of scimd.cli.serve, app and settings aside.
    uvicorn.run(app_path, app_dir=str(HERE), host=host, port=port, workers=workers,
                log_level="info", access_log=False, proxy_headers=False,
                server_header=False)


def main() -> None:
    parser = argparse.ArgumentParser(description="bare ASGI ceiling")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    serve("ceiling_app:app", args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
