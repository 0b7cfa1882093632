"""Hardware-aware architecture search (nanoNAS-style cells, the Occam's-razor strategy) whose feasibility is
the exact footprint of the compiled firmware; candidates evaluated as Ray tasks. See docs/nas.md."""

from .space import Candidate, build_model, kernels, max_cells
from .strategy import Outcome, Verdict, occam_search

__all__ = ["Candidate", "Outcome", "Verdict", "build_model", "kernels", "max_cells", "occam_search"]
