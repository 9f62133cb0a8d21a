"""What every benchmark shares; import it before NumPy.

- BLAS threads are pinned before NumPy loads: ``--threads N`` on the command line, else
  the environment's own setting, else 1 (a prediction is a batch of one, and on a busy
  2-core machine BLAS threads spin against each other and the server);
- the repository and ``tests/`` (for ``support.*``: the WebSocket client and the
  gunicorn launcher) are put on ``sys.path``;
- ``parser`` makes the argument parser (with ``--threads``), ``header`` prints the
  machine's state first (the machine is shared: compare ratios from one run), and
  ``percentile_ms`` turns seconds into milliseconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def _threads_from_argv(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return None


THREADS = _threads_from_argv(sys.argv[1:]) or os.environ.get("OMP_NUM_THREADS") or "1"
"""BLAS threads for this benchmark, fixed before NumPy is imported."""

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = THREADS


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser described by the module docstring's first paragraph."""
    result = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    result.add_argument("--threads", type=int, default=int(THREADS),
                        help="BLAS threads, set before NumPy loads (default 1)")
    return result


def header() -> str:
    """One line on the machine: cores, BLAS threads, NumPy, the load average now."""
    import numpy as np

    one, five, _ = os.getloadavg()
    return (f"{os.cpu_count()} CPUs, BLAS threads {THREADS}, numpy {np.__version__}, "
            f"load average {one:.2f} (5 min {five:.2f}); a busy machine raises every figure")


def percentile_ms(seconds, q: float) -> float:
    """The q-th percentile of durations in seconds, in milliseconds (nan when empty)."""
    import numpy as np

    return float(np.percentile(np.asarray(seconds) * 1e3, q)) if len(seconds) else float("nan")


def load_average() -> float:
    """The one-minute load average."""
    return os.getloadavg()[0]
