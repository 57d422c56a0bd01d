"""SQLite writers take turns across threads and processes (``store/write_turns.py``):
a flock(2) of ``<database>-writers`` queues one writer of each process, so that they
do not meet on SQLite's busy handler (docs/operations.md, "Several processes")."""

from __future__ import annotations

import contextvars
import errno
import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from scimd.limits import deadlines
from scimd.store import migrate, write_turns
from scimd.store.db import connect
from scimd.store.write_turns import WriteTurns, lock_path

HOLDER = """
import sys
from scimd.store.write_turns import WriteTurns
turns = WriteTurns(sys.argv[1])  # the database's path
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
    path = str(tmp_path / "scimd.db")
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
    turns = WriteTurns(str(tmp_path / "scimd.db"))
    lock = lock_path(str(tmp_path / "scimd.db"))
    with turns.turn():
        with turns.turn():  # a write inside a write: no deadlock on the own lock
            assert _locked_elsewhere(lock)
        assert _locked_elsewhere(lock)  # the inner end did not release it
    assert not _locked_elsewhere(lock)
    turns.close()


def test_two_databases_on_one_file_in_one_process_exclude_each_other(tmp_path):
    path = str(tmp_path / "scimd.db")
    first, second = WriteTurns(path), WriteTurns(path)
    with first.turn():
        entered, thread = _waiting_for(second)
        assert not entered.wait(0.3)
    assert entered.wait(30)
    thread.join(30)
    first.close()
    second.close()


FORKER = """
import os, sys
from scimd.store.write_turns import WriteTurns
turns = WriteTurns(sys.argv[1])
with turns.turn():
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        os._exit(0 if turns._depth == 0 and turns._fd is None else 1)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status), flush=True)
    sys.stdin.readline()
print("released", flush=True)
sys.stdin.readline()
"""


def test_a_forked_child_has_turns_of_its_own(tmp_path):
    """A child forked while its parent writes holds no turn, and drops the descriptor it
    inherited: that one shares the parent's lock, and would keep it alive were the
    parent to die. (Forked from a fresh, single-threaded interpreter.)"""
    lock = lock_path(str(tmp_path / "scimd.db"))
    parent = subprocess.Popen([sys.executable, "-c", FORKER, str(tmp_path / "scimd.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "child 0"  # fresh turns in the child
        assert _locked_elsewhere(lock)  # its closing left the parent's lock alone
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == "released"
        assert not _locked_elsewhere(lock)
        parent.stdin.write("\n")
        parent.stdin.flush()
        assert parent.wait(30) == 0
    finally:
        parent.kill()
        parent.wait()


def test_the_lock_file_takes_the_database_permissions(tmp_path):
    database = tmp_path / "scimd.db"
    database.touch(mode=0o640)
    database.chmod(0o640)
    old = os.umask(0o022)
    try:
        turns = WriteTurns(str(database))
        with turns.turn():
            pass
    finally:
        os.umask(old)
    assert os.stat(lock_path(str(database))).st_mode & 0o777 == 0o640
    turns.close()


def test_a_lock_file_that_may_only_be_read_still_orders_writers(tmp_path, monkeypatch):
    """flock(2) locks a read-only descriptor too (another user made the file, say)."""
    opened = []
    real_open = os.open

    def open_read_only(path, flags, *args):
        opened.append(flags)
        if flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    Path(lock_path(str(tmp_path / "scimd.db"))).touch()
    monkeypatch.setattr(os, "open", open_read_only)
    turns = WriteTurns(str(tmp_path / "scimd.db"))
    with turns.turn():
        monkeypatch.undo()
        assert _locked_elsewhere(lock_path(str(tmp_path / "scimd.db")))
    assert len(opened) == 2 and not opened[1] & os.O_RDWR
    turns.close()


def test_a_file_system_without_flock_falls_back_to_the_busy_handler(tmp_path, monkeypatch,
                                                                    caplog):
    """ENOLCK (NFS without a lock daemon) must not fail the write: it goes ahead, and
    the next turns do not try the file again."""
    calls = []

    def no_locks(fd, operation):
        calls.append(operation)
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(write_turns.fcntl, "flock", no_locks)
    db = connect(f"sqlite:///{tmp_path / 'scimd.db'}")
    migrate.upgrade(db)
    try:
        for _ in range(2):
            with db.write() as conn:
                conn.exec_driver_sql("SELECT 1")
    finally:
        db.dispose()
    assert len(calls) == 1 and "busy handler" in caplog.text


def test_without_a_lock_file_writers_still_take_turns_in_the_process(tmp_path, caplog):
    turns = WriteTurns(str(tmp_path / "missing-dir" / "scimd.db"))
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
    assert memory.turns._path is None  # nothing to share with other processes
    memory.dispose()


def test_a_write_whose_turn_comes_after_its_deadline_does_not_run(tmp_path):
    path = tmp_path / "scimd.db"
    db = connect(f"sqlite:///{path}")
    migrate.upgrade(db)
    other = WriteTurns(str(path))  # another process's writer, say
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
