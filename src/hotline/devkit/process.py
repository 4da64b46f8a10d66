"""A service as a child process: `hotline serve <name>` (or any command) on a port of its own,
logging to a file, killed by the kernel when the process that started it dies.

The parent-death signal (Linux `prctl(PR_SET_PDEATHSIG, SIGKILL)`) is what keeps an interrupted
test run or benchmark from leaving services behind that go on consuming from its topics. The
kernel sends it when the *thread* that forked the child ends, so spawn from a thread that lives as
long as the children (the main thread, an event loop's thread)."""

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
HEALTHY_WITHIN_S = 120.0
STOPPED_WITHIN_S = 30.0


def free_port() -> int:
    """A TCP port free on the loopback address right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parent_death_signal() -> Callable[[], None] | None:
    """A `preexec_fn` that has the child SIGKILLed when its parent dies; None off Linux.

    libc is loaded here, in the parent: the child, between fork and exec, only makes the call (a
    forked child of a threaded parent must not take locks such as the dynamic loader's)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent may have died before the call took effect: then nobody would send it.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return die_with_parent


def hotline_command(service: str) -> list[str]:
    """`hotline serve <service>` with the interpreter's own `hotline` (the same virtualenv)."""
    return [str(Path(sys.executable).with_name("hotline")), "serve", service]


class ServiceDidNotStart(RuntimeError):
    """A service process exited or did not answer /healthz in time; the message ends with its log."""


class ServiceProcess:
    """One service process: its name, port, log file and the `Popen` behind it."""

    def __init__(self, name: str, process: subprocess.Popen, port: int, log: Path) -> None:
        self.name, self.process, self.port, self.log = name, process, port, log

    @classmethod
    def spawn(cls, name: str, env: dict[str, str], log: Path, *, port: int | None = None,
              port_variable: str | None = None, command: list[str] | None = None,
              append: bool = False) -> "ServiceProcess":
        """Start `command` (default `hotline serve <name>`) with `env` and its HTTP port (a free one
        unless given) in `port_variable` (default `<NAME>_HTTP_PORT`), stdout and stderr to `log`
        (appended to with `append`). Returns at once: see `wait_healthy`."""
        port = port or free_port()
        env = {**env, port_variable or f"{name.upper()}_HTTP_PORT": str(port)}
        with log.open("ab" if append else "wb") as out:
            process = subprocess.Popen(command or hotline_command(name), env=env, stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       preexec_fn=parent_death_signal())
        return cls(name, process, port, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _give_up_if_late(self, deadline: float) -> None:
        if not self.running() or time.monotonic() > deadline:
            code = self.process.poll()
            self.kill()
            raise ServiceDidNotStart(f"{self.name} did not start (exit code {code}): {self.log_tail()}")

    def wait_healthy(self, timeout_s: float = HEALTHY_WITHIN_S) -> "ServiceProcess":
        """Until /healthz answers 200; a process that exits or is not healthy in time is killed and
        ServiceDidNotStart raised."""
        wait_all_healthy([self], timeout_s)
        return self

    async def wait_healthy_async(self, timeout_s: float = HEALTHY_WITHIN_S) -> "ServiceProcess":
        """`wait_healthy` without blocking the event loop (several services start side by side)."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                try:
                    if (await client.get(self.url("/healthz"))).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                self._give_up_if_late(deadline)
                await asyncio.sleep(0.3)

    def stop(self, timeout_s: float = STOPPED_WITHIN_S) -> int:
        """SIGTERM, a clean shutdown; SIGKILL if it has not exited within `timeout_s` (stuck in
        shutdown, e.g. its broker just went away). Returns the exit code."""
        if self.running():
            self.process.terminate()
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return self.kill()

    async def stop_async(self, timeout_s: float = STOPPED_WITHIN_S) -> int:
        return await asyncio.to_thread(self.stop, timeout_s)

    def kill(self) -> int:
        """SIGKILL: no shutdown hook runs, nothing is flushed or committed."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=10)


def wait_all_healthy(services: Iterable[ServiceProcess], timeout_s: float = HEALTHY_WITHIN_S) -> None:
    """Until every service's /healthz answers 200, within one deadline for all (they start side by
    side); the first that exits or is late is killed and ServiceDidNotStart raised."""
    deadline, waiting = time.monotonic() + timeout_s, list(services)
    while waiting:
        service = waiting[0]
        try:
            if httpx.get(service.url("/healthz"), timeout=2).status_code == 200:
                waiting.pop(0)
                continue
        except httpx.HTTPError:
            pass
        service._give_up_if_late(deadline)
        time.sleep(0.2)


def stop_all(services: Iterable[ServiceProcess], timeout_s: float = STOPPED_WITHIN_S) -> None:
    """SIGTERM to every service at once, then each waited for (SIGKILL when late): the shutdowns
    overlap instead of adding up."""
    services = list(services)
    for service in services:
        if service.running():
            service.process.terminate()
    for service in services:
        service.stop(timeout_s)
