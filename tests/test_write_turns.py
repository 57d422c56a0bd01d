"""SQLite writers take turns across threads and processes (``store/write_turns.py``):
a flock(2) of ``<database>-writers`` queues one writer of each process, so that they
do not meet on SQLite's busy handler (docs/operations.md, "Several processes")."""

from __future__ import annotations

import contextvars
import fcntl
import os
import subprocess
import sys
import threading

import pytest

from scimd.limits import deadlines
from scimd.store import migrate
from scimd.store.db import connect
from scimd.store.write_turns import WriteTurns, lock_path

HOLDER = """
import sys
from scimd.store.write_turns import WriteTurns
turns = WriteTurns(sys.argv[1])
with turns.turn():
    print("held", flush=True)
    sys.stdin.readline()
"""


def _locked_elsewhere(path: str) -> bool:
    """Whether some other open file description holds the lock of ``path``."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _waiting_for(turns: WriteTurns) -> tuple[threading.Event, threading.Thread]:
    """A thread that waits for a turn of ``turns``; the event is set once it has it."""
    entered = threading.Event()

    def take() -> None:
        with turns.turn():
            entered.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return entered, thread


def test_a_writer_of_another_process_waits_for_the_turn(tmp_path):
    path = str(tmp_path / "db-writers")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        turns = WriteTurns(path)
        entered, thread = _waiting_for(turns)
        assert not entered.wait(0.3)  # the other process has the turn
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert entered.wait(30)  # and hands it on when it is done
        thread.join(30)
        turns.close()
    finally:
        holder.kill()
        holder.wait()


def test_turns_nest_and_the_file_lock_lasts_until_the_outermost_ends(tmp_path):
    path = str(tmp_path / "db-writers")
    turns = WriteTurns(path)
    with turns.turn():
        with turns.turn():  # a write inside a write: no deadlock on the own lock
            assert _locked_elsewhere(path)
        assert _locked_elsewhere(path)  # the inner end did not release it
    assert not _locked_elsewhere(path)
    turns.close()


def test_two_databases_on_one_file_in_one_process_exclude_each_other(tmp_path):
    path = str(tmp_path / "db-writers")
    first, second = WriteTurns(path), WriteTurns(path)
    with first.turn():
        entered, thread = _waiting_for(second)
        assert not entered.wait(0.3)
    assert entered.wait(30)
    thread.join(30)
    first.close()
    second.close()


def test_a_forked_process_opens_its_own_lock_file(tmp_path):
    """A descriptor shared with a parent would share its lock: the child reopens."""
    turns = WriteTurns(str(tmp_path / "db-writers"))
    with turns.turn():
        pass
    inherited = turns._fd
    turns._pid = -1  # as a forked child sees it: the pid changed
    with turns.turn():
        assert turns._fd != inherited and turns._pid == os.getpid()
    os.close(inherited)
    turns.close()


def test_without_a_lock_file_writers_still_take_turns_in_the_process(tmp_path, caplog):
    turns = WriteTurns(str(tmp_path / "missing-dir" / "db-writers"))
    with turns.turn():
        entered, thread = _waiting_for(turns)  # another thread of this process
        assert not entered.wait(0.3)
    assert entered.wait(30)
    thread.join(30)
    assert "busy handler" in caplog.text
    turns.close()


def test_a_sqlite_database_queues_its_writers_on_a_file_beside_it(tmp_path):
    path = tmp_path / "scimd.db"
    db = connect(f"sqlite:///{path}")
    migrate.upgrade(db)
    try:
        with db.write() as conn:
            conn.exec_driver_sql("SELECT 1")
            assert _locked_elsewhere(lock_path(str(path)))
        assert not _locked_elsewhere(lock_path(str(path)))
    finally:
        db.dispose()
    memory = connect("sqlite://")
    with memory.write():
        pass
    assert memory.turns._path is None
    memory.dispose()


def test_a_write_whose_turn_comes_after_its_deadline_does_not_run(tmp_path):
    path = tmp_path / "scimd.db"
    db = connect(f"sqlite:///{path}")
    migrate.upgrade(db)
    other = WriteTurns(lock_path(str(path)))  # another process's writer, say
    guard = deadlines.Deadline()
    ran, failed = threading.Event(), []

    def request() -> None:
        deadlines.CURRENT.set(guard)
        try:
            with db.write():
                ran.set()
        except deadlines.DeadlinePassed as exc:
            failed.append(exc)

    try:
        with other.turn():
            thread = threading.Thread(target=contextvars.copy_context().run, args=(request,))
            thread.start()
            assert not ran.wait(0.3)  # waiting for the turn
            assert guard.expire()  # the request is answered 503 meanwhile
        thread.join(30)
        assert not ran.is_set() and len(failed) == 1
    finally:
        other.close()
        db.dispose()


@pytest.mark.parametrize("expired", [True, False])
def test_a_write_for_a_request_already_answered_503_does_not_start(tmp_path, expired):
    db = connect(f"sqlite:///{tmp_path / 'scimd.db'}")
    migrate.upgrade(db)
    guard = deadlines.Deadline()
    if expired:
        guard.expire()
    token = deadlines.CURRENT.set(guard)
    try:
        if expired:
            with pytest.raises(deadlines.DeadlinePassed), db.write():
                pytest.fail("the block must not run")
        else:
            with db.write() as conn:
                conn.exec_driver_sql("SELECT 1")
            assert not guard.expire()  # it committed: the deadline stands down
    finally:
        deadlines.CURRENT.reset(token)
        db.dispose()
