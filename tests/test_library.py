"""`tinyodl generate --library`: the model and the kernels it calls, built into a firmware that is not
tinyodl's (its own vector table, start-up, linker script and semihosting output), on the simulated boards,
equal to the numpy reference bit for bit; the folder holds only the kernels the model calls."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_arm_gcc, needs_qemu

from tinyodl.boards import load_board
from tinyodl.cli import main
from tinyodl.modelrun import ModelOptions, import_model
from tinyodl.reference.graph import run_graph
from tinyodl.toolchain.library import kernel_files
from tinyodl.toolchain.outdir import STAMP

PREFIX = "net"
INPUT_SHAPE = (20, 3)


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small int8 Conv1D model (the DSP variants with their arena scratch, max pooling, mean, a head)."""
    tf = pytest.importorskip("tensorflow", reason="tensorflow not installed (scripts/setup.sh --test)")
    from tfmodels import convert

    layers = tf.keras.layers
    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([
        tf.keras.Input(INPUT_SHAPE, batch_size=1),
        layers.Conv1D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling1D(2),
        layers.Conv1D(12, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling1D(),
        layers.Dense(4),
    ])  # fmt: skip
    calibration = np.random.default_rng(3).standard_normal((16, *INPUT_SHAPE)).astype(np.float32)
    return convert(model, tmp_path_factory.mktemp("lib") / "small_int8.tflite", True, calibration)


def _generate(model: Path, board: str, out: Path, *extra: str) -> Path:
    code = main(["generate", str(model), "--board", board, "--library", "--prefix", PREFIX, "-o", str(out), *extra])
    assert code == 0
    return out


# ---- the folder ------------------------------------------------------------------------------------------


def test_kernel_files_follow_the_calls() -> None:
    sources, headers = kernel_files(["tl_max_pool2d_s8_dsp"])
    assert [p.name for p in sources] == ["tl_max_pool2d_s8.c", "tl_max_pool2d_s8_dsp.c"]  # its check calls it
    assert [p.name for p in headers] == ["tl_dsp.h", "tl_kernel_util.h", "tl_kernels.h"]
    sources, headers = kernel_files(["tl_add_f32"])
    assert [p.name for p in sources] == ["tl_add_f32.c"]
    assert [p.name for p in headers] == ["tl_kernel_util.h", "tl_kernels.h"]
    # a kernel the generated code names without calling it (a function pointer in params) comes along
    sources, _ = kernel_files(["tl_mean_s8"], "static const p_t x = { .run = tl_add_s8, .check = tl_add_s8_check };")
    assert [p.name for p in sources] == ["tl_add_s8.c", "tl_mean_s8.c"]


def _shipped(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "kernels").iterdir())


def _assert_only_used(out: Path) -> None:
    """Every kernel source is named by the model (a call, or a function pointer in params) or by another
    shipped kernel; the kernel library's file tl_X.c defines tl_X and tl_X_check."""
    names = _shipped(out)
    for name in names:
        if name.endswith(".c"):
            fn = name[:-2]
            users = [(out / "net.c").read_text()] + [(out / "kernels" / o).read_text() for o in names if o != name]
            assert any(re.search(rf"\b{fn}(_check)?\b", text) for text in users), f"{name} is not used"
    unrelated = ("fully_connected", "depthwise", "add", "pad", "avg_pool", "f32", "fpu")
    assert not [n for n in names if any(u in n for u in unrelated)], names


def test_folder_holds_only_the_kernels_used(
    int8_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _generate(int8_model, "nucleo-l476rg", tmp_path / "lib")
    line = capsys.readouterr().out.strip()
    assert re.match(rf"wrote {re.escape(str(out))}: net\.c/\.h \(\d+ layers, arena [\d,]+ B\)", line), line
    assert "-mcpu=cortex-m4" in line
    assert sorted(p.name for p in out.iterdir()) == [STAMP, "README.md", "kernels", "net.c", "net.h"]
    functions = [f for f in re.findall(r"\b(tl_\w+)\(&net_", (out / "net.c").read_text()) if not f.endswith("_check")]
    sources, headers = kernel_files(sorted(set(functions)), (out / "net.c").read_text())
    assert _shipped(out) == sorted(p.name for p in [*sources, *headers])
    assert {"tl_kernels.h", "tl_kernel_util.h", "tl_dsp.h", "tl_mean_s8_dsp.c", "tl_mean_s8.c"} <= set(_shipped(out))
    _assert_only_used(out)
    text = (out / "net.c").read_text() + (out / "net.h").read_text()
    assert "tl_runtime.h" not in text and "tl_measure" not in text
    readme = (out / "README.md").read_text()
    assert "-mfpu=fpv4-sp-d16" in readme and "NET_ARENA_BYTES" in readme

    # again with the reference kernels: the variants and tl_dsp.h go, the earlier output is overwritten
    _generate(int8_model, "nucleo-l476rg", out, "--kernels", "reference")
    assert not [n for n in _shipped(out) if "dsp" in n], _shipped(out)
    assert "tl_mean_s8.c" in _shipped(out)
    _assert_only_used(out)


def test_project_output_is_stamped(int8_model: Path, tmp_path: Path) -> None:
    """The whole-project output carries the stamp too, so generating into it again is allowed."""
    out = tmp_path / "project"
    argv = ["generate", str(int8_model), "--board", "nucleo-l476rg", "-o", str(out)]
    assert main(argv) == 0
    assert (out / STAMP).is_file() and (out / "Makefile").is_file()
    assert main(argv) == 0


def test_library_refuses_the_learner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lib"
    argv = ["generate", "m.tflite", "--board", "nucleo-l476rg", "--library", "--learner", "tinyrce", "-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinyodl: error: --library") and "--learner" in err[0]
    assert not out.exists()


# ---- a foreign firmware on the simulated boards ------------------------------------------------------------

MAIN_C = r"""
/* Not tinyodl's firmware: its own vector table and start-up, output over semihosting. */
#include <stdint.h>
#include <string.h>

#include "net.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
void reset_handler(void);
static void stop_handler(void);

static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void finish(uint32_t code)
{
    const uint32_t block[2] = {0x20026u, code}; /* ADP_Stopped_ApplicationExit, exit code */
    (void)semihost(0x20u, block);               /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

static void stop_handler(void) { finish(99u); }

__attribute__((section(".vectors"), used)) static const uintptr_t vectors[16] = {
    (uintptr_t)_estack, (uintptr_t)reset_handler, (uintptr_t)stop_handler, (uintptr_t)stop_handler,
    (uintptr_t)stop_handler, (uintptr_t)stop_handler, (uintptr_t)stop_handler,
};

static void print(const char *label, const void *data, uint32_t n, int32_t status)
{
    static char line[2048];
    static const char hex[] = "0123456789abcdef";
    uint32_t k = 0u;
    while (*label != '\0') {
        line[k++] = *label++;
    }
    line[k++] = ' ';
    line[k++] = status == 0 ? '0' : (char)('0' + (status & 7));
    line[k++] = ' ';
    for (uint32_t i = 0u; i < n && data != 0; ++i) {
        line[k++] = hex[((const uint8_t *)data)[i] >> 4];
        line[k++] = hex[((const uint8_t *)data)[i] & 15u];
    }
    line[k++] = '\n';
    line[k] = '\0';
    (void)semihost(0x04u, line); /* SYS_WRITE0 */
}

static void fill(int8_t *in)
{
    for (uint32_t i = 0u; i < NET_INPUT_ELEMS; ++i) {
        in[i] = (int8_t)(uint8_t)((i * 37u + 11u) & 0xFFu);
    }
}

static uint8_t my_arena[NET_ARENA_BYTES + 8u] __attribute__((aligned(8)));

int main(void)
{
    tl_status_t s = net_init(); /* without the static arena (NET_NO_STATIC_ARENA): TL_STATUS_NULL_ARG */
    if (s == TL_STATUS_OK) {
        fill(net_input());
        s = net_invoke();
    }
    print("static", net_output(), NET_OUTPUT_ELEMS, (int32_t)s);

    print("null", 0, 0u, (int32_t)net_init_arena(0, sizeof my_arena));
    print("misaligned", 0, 0u, (int32_t)net_init_arena(my_arena + 1, sizeof my_arena - 1u));
    print("small", 0, 0u, (int32_t)net_init_arena(my_arena, NET_ARENA_BYTES - 1u));
    memset(my_arena, 0x5A, sizeof my_arena);
    s = net_init_arena(my_arena, sizeof my_arena);
    int8_t *in = net_input();
    const uint8_t *out = (const uint8_t *)net_output();
    const uint8_t inside = (const uint8_t *)in >= my_arena && out + NET_OUTPUT_ELEMS <= my_arena + sizeof my_arena;
    print("inside", &inside, 1u, 0);
    fill(in);
    if (s == TL_STATUS_OK) {
        s = net_invoke();
    }
    print("own", net_output(), NET_OUTPUT_ELEMS, (int32_t)s);
    return 0;
}

void reset_handler(void)
{
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: the FPU, for the hard-float ABI */
    __asm volatile("dsb\n\tisb" ::: "memory");
    const uint32_t *src = _sidata;
    for (uint32_t *dst = _sdata; dst < _edata; ++dst) {
        *dst = *src++;
    }
    for (uint32_t *dst = _sbss; dst < _ebss; ++dst) {
        *dst = 0u;
    }
    finish((uint32_t)main());
}
"""

LINK_LD = """
ENTRY(reset_handler)
MEMORY
{
    FLASH (rx) : ORIGIN = 0x%08X, LENGTH = 256K
    RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 64K
}
SECTIONS
{
    .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) . = ALIGN(4); } > FLASH
    .ARM.exidx : { *(.ARM.exidx*) } > FLASH
    .data : { _sdata = .; *(.data*) . = ALIGN(4); _edata = .; } > RAM AT > FLASH
    _sidata = LOADADDR(.data);
    .bss (NOLOAD) : { _sbss = .; *(.bss*) *(COMMON) . = ALIGN(4); _ebss = .; } > RAM
    _estack = ORIGIN(RAM) + LENGTH(RAM);
}
"""


@needs_arm_gcc
@needs_qemu
@pytest.mark.sim
@pytest.mark.parametrize("board_name", ["nucleo-l476rg", "nucleo-h743zi"])
def test_foreign_firmware_matches_the_reference(int8_model: Path, tmp_path: Path, board_name: str) -> None:
    board = load_board(board_name)
    lib = _generate(int8_model, board_name, tmp_path / "lib")
    qemu = board.qemu[0]
    (tmp_path / "main.c").write_text(MAIN_C)
    (tmp_path / "link.ld").write_text(LINK_LD % (qemu.twin or board.target).memory.flash.origin)
    sources = [tmp_path / "main.c", lib / "net.c", *sorted((lib / "kernels").glob("*.c"))]
    cflags = [*board.cflags, "-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", "-Wshadow"]

    _, graph, _ = import_model(int8_model, ModelOptions())
    t_in = graph.tensors[graph.inputs[0]]
    x = ((np.arange(t_in.size) * 37 + 11) & 0xFF).astype(np.uint8).view(np.int8).reshape(t_in.shape)
    expected = run_graph(graph, x)[graph.outputs[0]].astype(np.int8).tobytes().hex()

    # with the static arena, and without it (then every pointer into the arena must follow the caller's)
    for defines, static in (([], ("0", [expected])), (["-DNET_NO_STATIC_ARENA"], ("1", [""]))):
        elf = tmp_path / f"foreign{len(defines)}.elf"
        subprocess.run(
            ["arm-none-eabi-gcc", *cflags, *defines, f"-I{lib}", f"-I{lib / 'kernels'}", *map(str, sources),
             "-o", str(elf), "-T", str(tmp_path / "link.ld"), "-nostartfiles", "--specs=nano.specs",
             "--specs=nosys.specs", "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        proc = subprocess.run(
            ["qemu-system-arm", "-M", qemu.machine, "-kernel", str(elf), "-display", "none", "-monitor", "none",
             "-nodefaults", "-semihosting-config", "enable=on,target=native"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc
        console = proc.stdout + proc.stderr  # QEMU writes the semihosting console to stderr
        lines = {ln.split(" ")[0]: (ln.split(" ")[1], ln.split(" ")[2:]) for ln in console.splitlines() if " " in ln}
        assert lines["static"] == static, defines
        assert lines["own"] == ("0", [expected]), defines
        assert lines["inside"] == ("0", ["01"])
        assert lines["null"][0] == "1" and lines["misaligned"][0] == "2" and lines["small"][0] == "2"
