"""IR -> IR passes, one small pass per file, grouped into named pipelines."""

from .cut import cut_at_features, head_input
from .edges import strip_edge_quantization
from .memory import MemoryPlan, plan_memory
from .prune import prune

__all__ = ["MemoryPlan", "cut_at_features", "head_input", "plan_memory", "prune", "strip_edge_quantization"]
