"""The interpreters a generated model is checked against, each keeping every intermediate tensor so the
feature layer (and every layer before it) can be read:

- LiteRT (TFLite's interpreter) with the REFERENCE op resolver (the default one uses XNNPACK delegates);
- tflite-micro's interpreter, the one that runs on microcontrollers, in a child process (see `TFLMOracle`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .tflite import FrontendError


class TFLiteOracle:
    """LiteRT's interpreter on the reference kernels."""

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

    def run_batch(self, xs: np.ndarray, tensors: list[str]) -> dict[str, np.ndarray]:
        """Run each window of `xs` (already in the model's input type and shape); per tensor the values of
        every window stacked, [windows, *shape]. Tensors the interpreter does not have are left out."""
        known = [t for t in tensors if t.split("#")[0] in self._by_name]
        runs = [self.run(x, known) for x in xs]
        return {t: np.stack([r[t] for r in runs]) for t in known}


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


_TFLM_RUN_SCRIPT = r"""
import json, sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime

model_path, in_path, out_path = sys.argv[1:4]
names = json.loads(sys.argv[4])
with open(model_path, "rb") as f:
    data = f.read()
tensors = runtime.convert_bytearray_to_object(data).subgraphs[0].tensors
first = {}
for i, t in enumerate(tensors):
    first.setdefault((t.name or b"").decode(errors="replace"), i)
wanted = {}
for k, name in enumerate(names):
    base, _, suffix = name.partition("#")
    index = int(suffix) if suffix.isdigit() else first.get(base)
    if index is not None and 0 <= index < len(tensors):
        wanted[k] = index
elements = sum(int(np.prod(t.shape)) if t.shape is not None else 1 for t in tensors)
arena = len(data) + 16 * elements + (1 << 20)
it = runtime.Interpreter.from_bytes(data, arena_size=arena,
                                    intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
xs = np.load(in_path)["x"]
got = {k: [] for k in wanted}
for x in xs:
    it.set_input(x, 0)
    it.invoke()
    for k, index in wanted.items():
        got[k].append(np.array(it.GetTensor(index, 0)["tensor_data"]))
np.savez(out_path, **{f"t{k}": np.stack(v) for k, v in got.items()})
"""


class TFLMOracle:
    """tflite-micro's interpreter (its reference kernels, as a microcontroller build without an optimised
    kernel library runs them), with every tensor preserved so intermediate layers can be read.

    It runs in a child process, all windows in one call: its C++ code prints to the process's own output
    streams, and a bad tensor index crashes the process instead of raising."""

    def __init__(self, path: Path, timeout_s: float = 300.0) -> None:
        import importlib.util

        try:
            found = importlib.util.find_spec("tflite_micro") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise FrontendError("the tflite-micro oracle needs tflite-micro: pip install 'tinyodl[tf]'")
        self.path = Path(path)
        self.timeout_s = timeout_s

    def run_batch(self, xs: np.ndarray, tensors: list[str]) -> dict[str, np.ndarray]:
        """Run each window of `xs` (already in the model's input type and shape); per tensor the values of
        every window stacked, [windows, *shape]. Tensors the model file does not have are left out."""
        import json
        import subprocess
        import sys
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tinyodl-tflm-") as tmp:
            in_path, out_path = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
            np.savez(in_path, x=np.asarray(xs))
            argv = [sys.executable, "-c", _TFLM_RUN_SCRIPT, str(self.path), str(in_path), str(out_path),
                    json.dumps(tensors)]  # fmt: skip
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                raise FrontendError(f"tflite-micro did not run {self.path} within {self.timeout_s:.0f} s") from None
            if proc.returncode != 0 or not out_path.exists():
                lines = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
                why = lines[-1] if lines else f"exit status {proc.returncode}"
                raise FrontendError(f"tflite-micro could not run {self.path}: {why}")
            with np.load(out_path) as data:
                return {name: data[f"t{k}"] for k, name in enumerate(tensors) if f"t{k}" in data}


def static_shape_problem(path: Path) -> str | None:
    """Why an interpreter that runs a model's static shapes, as tflite-micro does (it never resizes a
    tensor), computes something else than the model for this file, or None. A dynamic-batch export of a
    dilated convolution is such a file: its SPACE_TO_BATCH_ND stacks block-size phases along the batch, but the
    file declares that tensor with the input's batch, so tflite-micro convolves one phase of several."""
    try:
        import tflite
    except ImportError:
        return None
    try:
        model = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
        sg = model.Subgraphs(0)
        names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if isinstance(v, int)}
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            kind = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
            if kind != "SPACE_TO_BATCH_ND":
                continue
            x, block, y = (sg.Tensors(int(t)) for t in (*op.InputsAsNumpy()[:2], op.OutputsAsNumpy()[0]))
            data = model.Buffers(block.Buffer()).DataAsNumpy()
            factor = int(np.prod(np.frombuffer(data.tobytes(), np.int32))) if not isinstance(data, int) else 1
            if int(y.ShapeAsNumpy()[0]) != int(x.ShapeAsNumpy()[0]) * factor:
                return (
                    f"it runs the file's static shapes, and operator {i} (SPACE_TO_BATCH_ND) fills {factor} batches "
                    f"of a tensor the file declares with {int(y.ShapeAsNumpy()[0])}: a dynamic-batch export of a "
                    "dilated convolution"
                )
    except Exception:  # noqa: BLE001 - an unreadable file is the frontend's to report
        return None
    return None
