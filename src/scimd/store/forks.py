"""What a forked child must not inherit from its parent (a held lock, a queue that a
thread of the parent serves): objects name a method that resets them in the child."""

from __future__ import annotations

import os
import weakref

_RESETS: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()


def reset_in_child(obj: object, method: str) -> None:
    """Call ``obj.<method>()`` in every child forked while ``obj`` lives."""
    _RESETS[obj] = method


def _in_child() -> None:
    for obj, method in list(_RESETS.items()):
        getattr(obj, method)()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_child)
