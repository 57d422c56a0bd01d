#!/bin/sh
# Tools the benchmark needs besides the project's virtualenv (see bench/README.md):
# wrk (Debian) as the load generator, and bench/.venv-peer with the peer (scim2-server),
# the same uvicorn as the project, and py-spy for --profile. Idempotent.
set -eu
cd "$(dirname "$0")"
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: wrk is missing; install it with: apt-get install -y wrk" >&2
    exit 1
fi
UVICORN=$(../.venv/bin/python -c 'import uvicorn; print(uvicorn.__version__)')
STAMP=.venv-peer/.installed-$UVICORN
if [ ! -f "$STAMP" ]; then
    python3 -m venv .venv-peer
    .venv-peer/bin/pip install --quiet --upgrade pip
    .venv-peer/bin/pip install --quiet scim2-server "uvicorn[standard]==$UVICORN" py-spy
    rm -f .venv-peer/.installed-*
    touch "$STAMP"
fi
