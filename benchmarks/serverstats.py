"""What a benchmark reads of the server it started: CPU and memory of its processes
(``/proc``), and where a prediction's time went inside it (``GET /metrics``).

The stages are the server's own timers (``webapp/metrics.py``): ``parse`` (a frame read
and applied to the ink), ``render``, ``predict`` (waiting for the batch and its forward
pass), ``fields``, ``send``, and ``forward`` (one batch's forward pass); the event loop's
``lag`` is how late a 10 ms timer fires.  Scrape before and after a measured period and
``stages(before, after)`` gives each stage's mean over that period alone.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

STAGES = ("parse", "render", "predict", "fields", "send", "forward")


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system, seconds) the processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


def memory_kib(pids: list[int]) -> tuple[int, int]:
    """Return (VmRSS, VmHWM) summed over the processes, in KiB."""
    rss = peak = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak += int(line.split()[1])
    return rss, peak


def scrape(port: int) -> dict[str, float]:
    """Every sample of the server's ``GET /metrics`` (all workers added up), by name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def delta(before: dict, after: dict, name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def stages(before: dict, after: dict) -> dict[str, dict[str, float]]:
    """{stage: {"count", "mean_ms"}} between two scrapes, plus "lag" (the event loop's),
    "batch" (predictions per forward pass) and "predictions" (sent)."""
    out = {}
    for stage in STAGES:
        count = delta(before, after, f'inkling_stage_seconds_count{{stage="{stage}"}}')
        total = delta(before, after, f'inkling_stage_seconds_sum{{stage="{stage}"}}')
        out[stage] = {"count": count, "mean_ms": 1000 * total / count if count else 0.0}
    count = delta(before, after, "inkling_loop_lag_seconds_count")
    total = delta(before, after, "inkling_loop_lag_seconds_sum")
    out["lag"] = {"count": count, "mean_ms": 1000 * total / count if count else 0.0}
    batches = delta(before, after, "inkling_batch_size_count")
    out["batch"] = {"count": batches, "mean": delta(before, after, "inkling_batch_size_sum")
                    / batches if batches else 0.0}
    out["predictions"] = {"count": delta(before, after,
                                          'inkling_predictions_total{route="ws"}')}
    return out


def stage_line(breakdown: dict) -> str:
    """One line: each stage's mean in ms, the batch size and the loop's lag."""
    parts = [f"{stage} {breakdown[stage]['mean_ms']:.3f}" for stage in STAGES]
    return (" | ".join(parts) + f" ms; batch {breakdown['batch']['mean']:.1f}; "
            f"loop lag {breakdown['lag']['mean_ms']:.2f} ms")
