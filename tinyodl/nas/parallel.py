"""Where candidates are evaluated: in this process one after another, or as Ray tasks.

Ray is optional (the `nas` extra) and imported only here, when a search asks for it. `--workers N` starts a
local Ray with N CPUs (one task per CPU); `--ray ADDRESS` joins a running cluster (its nodes need tinyodl and
its toolchain installed: each task trains, builds and simulates). A Ray that is already running in this
process (ray.init called by the caller) is used as it is and left running.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import Any

from ..errors import TinyodlError
from .space import Candidate

Evaluate = Callable[..., dict[str, Any]]  # evaluate(cand, *args) -> record
Done = Callable[[Candidate, dict[str, Any]], None]


class SequentialBackend:
    """Evaluates a candidate when its result is asked for; never ahead of time."""

    width = 1

    def __init__(self, fn: Evaluate, args: tuple[Any, ...], known: dict[Candidate, dict[str, Any]],
                 done: Done | None = None) -> None:  # fmt: skip
        self.fn, self.args, self.known, self.done = fn, args, known, done
        self.evaluated = 0

    def submit(self, cand: Candidate) -> None:
        pass

    def result(self, cand: Candidate) -> dict[str, Any]:
        if cand not in self.known:
            self.known[cand] = self.fn(cand, *self.args)
            self.evaluated += 1
            if self.done is not None:
                self.done(cand, self.known[cand])
        return self.known[cand]

    def close(self) -> None:
        pass


def ray_module() -> Any | None:
    try:
        import ray
    except ImportError:
        return None
    return ray


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in one line when nothing answers at HOST:PORT (Ray itself retries for minutes, loudly). `auto`
    (the cluster this machine belongs to) is left to Ray."""
    target = address.removeprefix("ray://")
    if target == "auto":
        return
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise TinyodlError(f"--ray {address}: give the cluster's HOST:PORT (e.g. 10.0.0.5:6379) or auto")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise TinyodlError(f"--ray {address}: cannot reach the Ray cluster: {exc.strerror or exc}") from None


def start_ray(workers: int | None, address: str | None) -> tuple[Any, int, bool]:
    """(ray, width, started here). Raises TinyodlError when Ray is absent or cannot start."""
    ray = ray_module()
    if ray is None:
        raise TinyodlError("Ray is not installed: pip install 'tinyodl[nas]'")
    started = False
    if not ray.is_initialized():
        if address:
            check_reachable(address)
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
            else:
                ray.init(num_cpus=workers or 1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds (ConnectionError, RuntimeError, ...)
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise TinyodlError(f"cannot start {where}: {str(exc).strip().splitlines()[0]}") from None
        started = True
    cpus = int(ray.cluster_resources().get("CPU", 1))
    width = workers if workers else cpus
    return ray, max(1, min(width, cpus) if not address else width), started


class RayBackend:
    """Each candidate is a Ray task (one CPU); at most `width` are in flight."""

    def __init__(self, ray: Any, width: int, started: bool, fn: Evaluate, args: tuple[Any, ...],
                 known: dict[Candidate, dict[str, Any]], done: Done | None = None) -> None:  # fmt: skip
        self.ray, self.width, self.started, self.known, self.done = ray, width, started, known, done
        self.remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        self.args = tuple(ray.put(a) for a in args)
        self.pending: dict[Candidate, Any] = {}
        self.evaluated = 0

    def submit(self, cand: Candidate) -> None:
        if cand in self.known or cand in self.pending or len(self.pending) >= self.width:
            return
        self.pending[cand] = self.remote.remote(cand, *self.args)

    def _collect(self, timeout: float | None) -> None:
        refs = list(self.pending.values())
        if not refs:
            return
        ready, _ = self.ray.wait(refs, num_returns=1 if timeout is None else len(refs), timeout=timeout)
        for cand in [c for c, r in self.pending.items() if r in ready]:
            ref = self.pending.pop(cand)
            try:
                self.known[cand] = self.ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a task's own exception comes back wrapped
                cause = getattr(exc, "cause", exc)
                raise TinyodlError(f"candidate {cand.name} failed in its Ray task: {cause}") from None
            self.evaluated += 1
            if self.done is not None:
                self.done(cand, self.known[cand])

    def result(self, cand: Candidate) -> dict[str, Any]:
        self.submit(cand)
        if cand not in self.known and cand not in self.pending:  # the window was full of speculative work
            while len(self.pending) >= self.width:
                self._collect(None)
            self.submit(cand)
        while cand not in self.known:
            self._collect(None)
        self._collect(0)
        return self.known[cand]

    def close(self) -> None:
        """Wait for the candidates still running (their results go to the history), then stop a Ray started
        here."""
        try:
            while self.pending:
                self._collect(None)
        finally:
            if self.started:
                self.ray.shutdown()


def make_backend(workers: int | None, address: str | None, fn: Evaluate, args: tuple[Any, ...],
                 known: dict[Candidate, dict[str, Any]], done: Done | None = None,
                 note: Callable[[str], None] | None = None) -> SequentialBackend | RayBackend:  # fmt: skip
    """Ray when it is installed (or asked for by --ray), else this process with a one-line note."""
    if ray_module() is None:
        if address:
            raise TinyodlError(f"--ray {address}: Ray is not installed: pip install 'tinyodl[nas]'")
        (note or (lambda m: print(m, file=sys.stderr)))(
            "tinyodl: Ray is not installed (pip install 'tinyodl[nas]'): candidates run one after another here"
        )
        return SequentialBackend(fn, args, known, done)
    ray, width, started = start_ray(workers, address)
    return RayBackend(ray, width, started, fn, args, known, done)
