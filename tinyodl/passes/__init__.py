"""IR -> IR passes, one small pass per file, grouped into named pipelines."""

from .cut import cut_at_features, head_input, learner_features
from .dilate import fold_dilation
from .edges import strip_edge_quantization
from .fold import FoldError, fold_shapes
from .fuse import fuse_conv_pool
from .memory import MemoryPlan, PlanError, check_plan, plan_memory
from .prune import prune

__all__ = [
    "FoldError",
    "MemoryPlan",
    "PlanError",
    "check_plan",
    "fold_dilation",
    "fuse_conv_pool",
    "fold_shapes",
    "cut_at_features",
    "learner_features",
    "head_input",
    "plan_memory",
    "prune",
    "strip_edge_quantization",
]
