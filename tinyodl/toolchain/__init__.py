"""Firmware projects: write (generated files + runtime sources + Makefile), compile, size."""

from .elfsize import SizeReport, size_report
from .project import AppSpec, Project, build_project, write_project

__all__ = ["AppSpec", "Project", "SizeReport", "build_project", "size_report", "write_project"]
