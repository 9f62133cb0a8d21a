"""The README's gunicorn for benchmarks: started on a free loopback port, stopped for sure.

Shared by ``load.py`` and ``roundtrip.py``. The server runs in its own process group
with a fresh instance folder; its log is drained in a thread so the pipe never fills.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Server:
    """The README's ``gunicorn`` in its own process group, its log drained in a thread."""

    LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")

    def __init__(self, instance: str, workers: int, timeout: float, **extra_env: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("INKLING_")}
        env.update(INKLING_INSTANCE_PATH=instance, INKLING_BIND="127.0.0.1:0",
                   INKLING_WORKERS=str(workers), INKLING_RATE_LIMITS="off",
                   INKLING_LOG_LEVEL="info", **extra_env)
        if "INKLING_INITIAL_MODEL" in os.environ:
            env["INKLING_INITIAL_MODEL"] = os.environ["INKLING_INITIAL_MODEL"]
        exe = Path(sys.executable).parent / "gunicorn"
        command = [str(exe)] if exe.exists() else [sys.executable, "-m", "gunicorn"]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: list[str] = []
        self.port = None
        ready = 0
        timer = threading.Timer(timeout, self.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                self.lines.append(line)
                if m := self.LISTENING.search(line):
                    self.port = int(m.group(1))
                ready += "inkling worker ready" in line
                if self.port and ready >= workers:
                    break
        finally:
            timer.cancel()
        if not (self.port and ready >= workers):
            self.kill()
            raise RuntimeError("gunicorn did not start:\n" + "".join(self.lines[-30:]))
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def __repr__(self) -> str:
        return f"Server(pid={self.proc.pid}, port={self.port})"

    def _drain(self) -> None:
        for line in self.proc.stdout:  # keep reading so the pipe never fills
            self.lines.append(line)

    def pids(self) -> list[int]:
        """Return the master's pid and its children's (the workers)."""
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    children.append(int(entry))
        return [self.proc.pid, *sorted(children)]

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """SIGTERM (sockets close with 1001), SIGKILL if the server lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
                self.proc.wait(30)
        self.kill()  # workers orphaned by a master that died first
        self.drain.join(5)
        self.proc.stdout.close()
