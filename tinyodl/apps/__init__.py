"""Firmware applications and their host-side drivers."""

from . import selftest

APPS = {"selftest": selftest.APP}

__all__ = ["APPS", "selftest"]
