"""Summarise a py-spy ``--format raw`` (collapsed stacks) file: where the time goes.

    .venv/bin/python bench/profile_report.py bench/results/work-*/profile-get_user.txt

Prints the share of on-CPU samples by layer (the first matching frame from the top of
the stack decides: scimd's own modules by package, SQLAlchemy, the sqlite3/psycopg
drivers, Starlette, uvicorn, anyio's thread pool, asyncio), the functions with the most
inclusive time, and those with the most self time. bench/run.py --profile records with
``--gil``: each sample is the thread holding the GIL, so this is where Python's CPU goes
(C code that releases the GIL, such as sqlite3's query execution, is not in it).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*?)(?::(?P<line>\d+))?\)$")

# Layers by file path, most specific first; a stack's layer is its innermost frame's.
LAYERS = [
    ("sqlite3 (C, via pysqlite)", r"sqlite3/"),
    ("psycopg driver", r"psycopg"),
    ("SQLAlchemy", r"sqlalchemy/"),
    ("scimd.store", r"scimd/store/"),
    ("scimd.directory", r"scimd/directory/"),
    ("scimd.protocol", r"scimd/protocol/"),
    ("scimd.scim", r"scimd/scim/"),
    ("scimd.auth", r"scimd/auth/"),
    ("scimd (other)", r"scimd/"),
    ("scim2_models / pydantic", r"scim2_models/|pydantic"),
    ("Starlette", r"starlette/"),
    ("uvicorn / httptools", r"uvicorn/|httptools"),
    ("anyio thread pool", r"anyio/"),
    ("asyncio / uvloop", r"asyncio/|uvloop"),
    ("threading / queue", r"threading\.py|queue\.py|concurrent/"),
    ("json / orjson", r"json/|orjson"),
]


# Frames every stack passes through (entry points, the event loop, thread start-up).
BORING = re.compile(r"<module>|\((threading\.py|asyncio/runners\.py|asyncio/base_events\.py|"
                    r"asyncio/events\.py|typer/|_click/|click/|uvicorn/main\.py|"
                    r"uvicorn/server\.py|scimd/cli\.py|anyio/_backends/_asyncio\.py)")


def _layer(frames: list[tuple[str, str]]) -> str:
    for _func, file in reversed(frames):
        for name, pattern in LAYERS:
            if re.search(pattern, file):
                return name
    return "other"


def _short(func: str, file: str) -> str:
    parts = Path(file).parts
    for anchor in ("site-packages", "src", "lib"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1:]
            break
    if parts and parts[0].startswith("python3"):
        parts = parts[1:]
    return f"{func} ({'/'.join(parts[-3:])})"


def load(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for raw in stack.split(";"):
            m = FRAME.match(raw.strip())
            frames.append((m["func"], m["file"]) if m else (raw.strip(), ""))
        if frames and frames[0][0].startswith(("process ", "thread ")):
            frames = frames[1:]
        stacks.append((frames, int(count)))
    return stacks


def summarize(path: Path, top: int = 15, expected: int | None = None) -> str:
    """``expected``: rate x seconds; with ``--gil`` the samples found over it is the share
    of the time some thread held the GIL."""
    stacks = load(Path(path))
    total = sum(c for _, c in stacks)
    if not total:
        return f"(no samples in {path})\n"
    busy = f" (GIL held {total / expected:.0%} of the time)" if expected else ""
    layers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for frames, count in stacks:
        layers[_layer(frames)] += count
        seen = set()
        for func, file in frames:
            key = _short(func, file)
            if key not in seen:
                inclusive[key] += count
                seen.add(key)
        if frames:
            self_time[_short(*frames[-1])] += count
    out = [f"{total} samples{busy}. By layer (innermost frame):", "",
           "| layer | share |", "|---|---|"]
    out += [f"| {name} | {c / total:.1%} |" for name, c in layers.most_common()]
    out += ["", "Top functions, inclusive:", "", "| function | inclusive |", "|---|---|"]
    out += [f"| `{name}` | {c / total:.1%} |" for name, c in inclusive.most_common(top * 4)
            if not BORING.search(name)][:top]
    out += ["", "Top functions, self:", "", "| function | self |", "|---|---|"]
    out += [f"| `{name}` | {c / total:.1%} |" for name, c in self_time.most_common(top)]
    return "\n".join(out) + "\n"


def main() -> None:
    for arg in sys.argv[1:]:
        print(f"# {arg}\n")
        print(summarize(Path(arg)))


if __name__ == "__main__":
    main()
