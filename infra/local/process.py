"""A server process started in the background and found again later through its pid file.

`up` and `down` run in different invocations of the CLI, so the pid file is the only link between
them. A pid alone can be reused by an unrelated process after a crash, so a process only counts as
ours when its command line also names our state directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


class ServerProcess:
    def __init__(self, name: str, run_dir: Path) -> None:
        self.name = name
        self.run_dir = run_dir
        self.pid_file = run_dir / f"{name}.pid"
        self.log_file = run_dir / f"{name}.out"

    def pid(self) -> int | None:
        """The pid of our running server, or None (and a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _is_ours(pid, self.run_dir):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self, argv: list[str], cwd: Path) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            # A new session keeps the server alive after the CLI exits and out of reach of the
            # terminal's Ctrl-C; `down` is what stops it.
            proc = subprocess.Popen(
                argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def alive(self) -> bool:
        return self.pid() is not None

    def stop(self, grace_seconds: float = 45.0) -> bool:
        """SIGTERM, then SIGKILL after the grace period. True if something was running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and _exists(pid):
            time.sleep(0.2)
        if _exists(pid):
            _signal(pid, signal.SIGKILL)
            while _exists(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


def _is_ours(pid: int, run_dir: Path) -> bool:
    # A process that is exec-ing shows an empty command line for a moment, and the java launcher
    # execs itself again right after it starts: wait that out rather than disown a server just started.
    for _ in range(100):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        if cmdline or not _exists(pid):
            break
        time.sleep(0.01)
    # With the separator: kafka/ must not claim a process of kafka-2/.
    return (str(run_dir) + "/").encode() in cmdline and _exists(pid)


def _exists(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = status.rsplit(")", 1)[1].split()[0]
    if state == "Z":
        _reap(pid)
        return False
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
