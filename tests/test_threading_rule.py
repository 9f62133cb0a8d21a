"""The one threading rule (webapp/blocking.py): every lock, condition, event, semaphore
and thread of the app is made by a factory of webapp/blocking.py, which says whether a
native thread touches it; the engine (network/) makes none at all.

The test reads the source of every module (and gunicorn.conf.py) and fails on any
other construction, so the rule cannot be broken by accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRIMITIVES = {"Lock", "RLock", "Condition", "Event", "Semaphore", "BoundedSemaphore",
              "Barrier", "Thread", "allocate_lock"}
ALLOWED = {ROOT / "webapp" / "blocking.py"}
SOURCES = sorted([*ROOT.glob("webapp/**/*.py"), *ROOT.glob("network/**/*.py"),
                  ROOT / "gunicorn.conf.py", ROOT / "wsgi.py"])


def constructions(path: Path) -> list[str]:
    """Every ``threading.X(...)``/``_thread.X(...)`` call or ``from threading import X``
    of a primitive in the file, as 'line: text'."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("threading", "_thread"):
            found += [f"{node.lineno}: from {node.module} import {alias.name}"
                      for alias in node.names if alias.name in PRIMITIVES]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in PRIMITIVES \
                and isinstance(node.func.value, ast.Name) \
                and node.func.value.id in ("threading", "_thread"):
            found.append(f"{node.lineno}: {node.func.value.id}.{node.func.attr}(...)")
    return found


def test_the_rule_sees_what_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import threading\nfrom threading import Lock\n"
                      "a = threading.Condition()\nb = threading.Thread(target=print)\n")
    assert constructions(sample) == ["2: from threading import Lock",
                                     "3: threading.Condition(...)", "4: threading.Thread(...)"]


@pytest.mark.parametrize("path", [p for p in SOURCES if p not in ALLOWED],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_makes_its_own_locks_or_threads(path):
    assert constructions(path) == [], (
        f"{path.relative_to(ROOT)} makes threading primitives itself; use a factory of "
        "webapp/blocking.py (native_* if a native thread touches the state, loop_* if "
        "only the event loop's greenlets do)")


def test_the_engine_imports_no_threading():
    for path in ROOT.glob("network/**/*.py"):
        tree = ast.parse(path.read_text())
        names = {alias.name for node in ast.walk(tree)
                 if isinstance(node, ast.Import | ast.ImportFrom)
                 for alias in node.names} | {node.module for node in ast.walk(tree)
                                             if isinstance(node, ast.ImportFrom)}
        assert not names & {"threading", "_thread"}, path
