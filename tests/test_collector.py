"""``scimd serve`` sets the garbage collector for a long-running server
(``ops/collector.py``, docs/decisions.md): what exists after start-up is frozen and
the youngest generation is collected less often. Run in a child process: freezing the
test process would keep every test's objects alive."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

from scimd.app import create_app
from scimd.ops.collector import YOUNG_THRESHOLD
from scimd.settings import Settings

PROBE = ("import gc\n"
         "from scimd.app import factory\n"
         "before = gc.get_freeze_count()\n"
         "factory()\n"
         "print(before, gc.get_freeze_count(), gc.get_threshold()[0])\n")


def test_the_server_entry_point_freezes_start_up_objects(tmp_path):
    env = {**os.environ, "SCIMD_DATABASE_URL": f"sqlite:///{tmp_path / 'gc.db'}"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, frozen, young = (int(x) for x in done.stdout.split()[-3:])
    # modules, schemas, the grammar, the engine (Python 3.12 starts with a few hundred)
    assert frozen - before > 10_000
    assert young == YOUNG_THRESHOLD


def test_building_an_app_in_process_leaves_the_collector_alone(db, database_url):
    """``create_app`` (what tests and embedders call) does not freeze anything."""
    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    create_app(Settings(database_url=database_url, rate_limits=False, webhooks=False), db)
    assert gc.get_freeze_count() == frozen
    assert gc.get_threshold() == thresholds and thresholds[0] != YOUNG_THRESHOLD
