"""One run of a container as a local process: its log, its process group, its pid file.

Each run gets its own session (so a signal reaches everything it started, and nothing of
the agent), appends to the container's log after a separator line, and leaves a pid file
so that an agent killed without a chance to clean up can stop the leftovers next time.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from brandmon_devtools.node.status import exit_code, rfc3339


def _start_ticks(pid: int) -> str | None:
    """Return a process's start time in clock ticks since boot, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 22; the command name (field 2) is parenthesised and may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ContainerProcess:
    """A running (or finished) process standing in for one container."""

    def __init__(
        self,
        *,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        log: Path,
        pid_file: Path,
        banner: str,
    ) -> None:
        self.log = log
        self.pid_file = pid_file
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as sink:
            sink.write(f"--- {banner} at {rfc3339()} ---\n".encode())
            sink.flush()
            # The fallback termination message reads this run's output only.
            self.log_offset = sink.tell()
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        self.pid = self.popen.pid
        self.started = time.monotonic()
        ticks = _start_ticks(self.pid)
        pid_file.write_text(f"{self.pid} {ticks}\n" if ticks else f"{self.pid}\n")

    def poll(self) -> int | None:
        """Return the exit code once the process has ended (and clean up after it)."""
        returncode = self.popen.poll()
        if returncode is None:
            return None
        self._finish()
        return exit_code(returncode)

    def _finish(self) -> None:
        # A container ends with its main process: whatever it left behind goes too.
        _kill_group(self.pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def terminate(self) -> None:
        """Send SIGTERM to the process group, without waiting."""
        if self.popen.poll() is None:
            _kill_group(self.pid, signal.SIGTERM)

    def stop(self, grace: float) -> int:
        """SIGTERM the process group, SIGKILL it after `grace` seconds; return the exit code."""
        if self.popen.poll() is None:
            _kill_group(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(max(grace, 0))
            except subprocess.TimeoutExpired:
                _kill_group(self.pid, signal.SIGKILL)
                self.popen.wait()
        returncode = self.popen.returncode
        self._finish()
        return exit_code(returncode)

    def output(self) -> bytes:
        """Return what this run has written to the log so far."""
        with self.log.open("rb") as log:
            log.seek(self.log_offset)
            return log.read()

    def ran_for(self) -> float:
        """Return how long the process has been running (or ran)."""
        return time.monotonic() - self.started


def stop_leftovers(state_dir: Path) -> list[int]:
    """Kill the process groups an earlier agent left running (per their pid files)."""
    stopped = []
    for pid_file in state_dir.glob("pods/*/*.pid"):
        fields = pid_file.read_text().split()
        pid_file.unlink(missing_ok=True)
        if not fields:
            continue
        pid = int(fields[0])
        # A pid can be reused; the start time tells the recorded process from a newcomer.
        if len(fields) > 1 and _start_ticks(pid) == fields[1]:
            _kill_group(pid, signal.SIGKILL)
            stopped.append(pid)
    return stopped
