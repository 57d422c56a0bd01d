"""The same cost: a bare ASGI app that spends a set CPU time on every request and answers
a set number of bytes, on the server settings of the ceiling (bench/README.md, line 4).

Given the CPU a scimd list page costs and the size of its answer, it shows which p50 and
p99 any server with that cost per request gets from wrk's 16 connections on this machine
and stack: what of a list page's latency is the page's own work, and what is the event
loop's and the machine's way of sharing one core among 16 connections.

    .venv/bin/python bench/same_cost_app.py --port 8100 --cpu-us 900 --bytes 96000
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ceiling_app import lifespan, serve
from dataset import SCIM_JSON

CPU_S = float(os.environ.get("SAME_COST_CPU_US", "0")) / 1e6
SIZE = int(os.environ.get("SAME_COST_BYTES", "2"))
BODY = b'{"p":"' + b"x" * max(0, SIZE - 8) + b'"}' if SIZE >= 8 else b"{}"
START = {"type": "http.response.start", "status": 200,
         "headers": [(b"content-type", SCIM_JSON.encode()),
                     (b"content-length", str(len(BODY)).encode())]}
END = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    # CPU time of this thread, not wall time: a stolen slice of the VM does not count.
    until = time.thread_time() + CPU_S
    while time.thread_time() < until:
        pass
    await send(START)
    await send(END)


def main() -> None:
    parser = argparse.ArgumentParser(description="bare ASGI app of a set cost per request")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu-us", type=float, required=True)
    parser.add_argument("--bytes", type=int, required=True)
    args = parser.parse_args()
    os.environ.update(SAME_COST_CPU_US=str(args.cpu_us), SAME_COST_BYTES=str(args.bytes))
    serve("same_cost_app:app", args.host, args.port)


if __name__ == "__main__":
    main()
