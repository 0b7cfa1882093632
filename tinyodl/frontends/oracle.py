"""TFLite's own interpreter as the oracle: LiteRT with the REFERENCE op resolver (the default one uses
XNNPACK delegates), keeping every intermediate tensor so the feature layer can be read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .tflite import FrontendError


class TFLiteOracle:
    def __init__(self, path: Path) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter, OpResolverType
        except ImportError:
            raise FrontendError("the TFLite oracle needs ai-edge-litert: pip install 'tinyodl[tf]'") from None
        self._it: Any = Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            experimental_preserve_all_tensors=True,
        )
        self._it.allocate_tensors()
        self._input = self._it.get_input_details()[0]
        self._by_name = {d["name"]: d["index"] for d in self._it.get_tensor_details()}

    def run(self, x: np.ndarray, tensors: list[str], quant: tuple[float, int] | None = None) -> dict[str, np.ndarray]:
        """Run on `x`. An int8 `x` for a float-input model (whose QUANTIZE the device does not run) is given
        dequantized with `quant` (scale, zero point): TFLite's QUANTIZE maps it back to the same values."""
        x = np.asarray(x)
        if quant is not None and x.dtype == np.int8 and self._input["dtype"] == np.float32:
            scale, zero_point = quant
            x = ((x.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
        self._it.set_tensor(self._input["index"], x.astype(self._input["dtype"]).reshape(self._input["shape"]))
        self._it.invoke()
        out = {}
        for name in tensors:
            index = self._by_name.get(name.split("#")[0])
            if index is None:
                raise FrontendError(f"the TFLite interpreter has no tensor named {name!r}")
            out[name] = np.array(self._it.get_tensor(index))
        return out


_TFLM_SCRIPT = (
    "import sys\n"
    "from tflite_micro.python.tflite_micro import runtime\n"
    "runtime.Interpreter.from_file(sys.argv[1]).print_allocations()\n"
)


def tflm_arena(path: Path, timeout_s: float = 120.0) -> dict[str, int]:
    """The arena tflite-micro's recording allocator reports for a model: total, head (activations and
    scratch) and tail (its own bookkeeping), in bytes. It prints them from C++, so the interpreter runs in a
    child process whose output is read."""
    import re
    import subprocess
    import sys

    try:
        proc = subprocess.run([sys.executable, "-c", _TFLM_SCRIPT, str(path)], capture_output=True, text=True,
                              timeout=timeout_s)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise FrontendError(f"tflite-micro did not report an arena for {path} within {timeout_s:.0f} s") from None
    found = dict(re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", proc.stdout + proc.stderr))
    if proc.returncode != 0 or "total" not in found:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise FrontendError(f"tflite-micro could not load {path}: {tail} (pip install 'tinyodl[tf]')")
    return {f"{k}_bytes": int(v) for k, v in found.items()}
