"""Errors that reach the user as one clear line (exit code 2), never as a traceback."""

from __future__ import annotations


class TinyodlError(Exception):
    """A problem the user can act on. The CLI prints `str(error)` and exits with `exit_code`."""

    exit_code = 2


class BoardError(TinyodlError):
    """A board name or board file is wrong."""


class ToolMissingError(TinyodlError):
    """A host tool (compiler, simulator) is not installed."""


class BuildError(TinyodlError):
    """The firmware did not compile or link."""


class RunError(TinyodlError):
    """A firmware run did not complete: timeout, fault, link failure. Carries the UART log."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log

    def __str__(self) -> str:
        base = super().__str__()
        if not self.log:
            return base
        return f"{base}\n--- UART log ---\n{self.log}"
