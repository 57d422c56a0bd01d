"""prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, docs/operations.md).

With several uvicorn workers each process counts on its own; when
``PROMETHEUS_MULTIPROC_DIR`` names a directory, every process writes its
values to files there and ``/metrics`` adds them up. The directory must be
emptied before the processes start, and before this process creates a single
metric: this module imports nothing of prometheus-client for that reason.
"""

from __future__ import annotations

import os
from pathlib import Path


def metrics_dir() -> str | None:
    """The multiprocess directory, or ``None`` when each process counts on its own."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def reset_metrics_dir() -> str | None:
    """Create the directory if needed and delete the values of earlier runs."""
    path = metrics_dir()
    if path is None:
        return None
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path
