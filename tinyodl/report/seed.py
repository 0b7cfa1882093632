"""The published figures the report puts beside ours: the deployability table of the TinyRCE paper.

Source: D. Pau, P. K. Ambrose, "TinyRCE: Forward Learning Under Tiny Constraints", tinyML Research
Symposium, March 27, 2023, slide "Deployability on MCU". Every configuration there is float32, measured with
the vendor's tool on an STM32L4 at 80 MHz and an STM32H7 at 480 MHz; "-" or an empty cell in the slide is
None here. The slide's learning columns are a whole training: MACC_Learning = MACC_Inference x (F x E)
(frames x epochs), so F x E is the ratio of the two MACC figures, and a figure per learned sample is the
learning figure divided by it.
"""

from __future__ import annotations

from typing import Any

SOURCE = (
    'D. Pau, P. K. Ambrose, "TinyRCE: Forward Learning Under Tiny Constraints", tinyML Research Symposium 2023, '
    'slide "Deployability on MCU" (float32, vendor tool, STM32L4 @ 80 MHz, STM32H7 @ 480 MHz)'
)

# name -> figures; latencies in ms
SEED: dict[str, dict[str, Any]] = {
    "cnn_inference": {
        "label": "CNN-SM_BP (single inference) FP32",
        "macc": 1_213_000,
        "flash_kib": 76.45,
        "ram_kib": 13.59,
        "latency_ms": {"nucleo-l476rg": 123.4, "nucleo-h743zi": 11.21},
    },
    "cnn_bp_learning": {
        "label": "CNN-SM_BP (learning) FP32 (K fold=1)",
        "macc": 8_000_000_000,
        "flash_kib": None,
        "ram_kib": 954.57,
        "latency_ms": {"nucleo-l476rg": 813_250.0, "nucleo-h743zi": 73_860.0},
    },
    "rce_inference": {
        "label": "CNN-FE_ELM + TinyRCE (single inference) FP32",
        "macc": 1_251_000,
        "flash_kib": 76.45,
        "ram_kib": 40.2,
        "latency_ms": {"nucleo-l476rg": 127.2, "nucleo-h743zi": 11.55},
    },
    "rce_learning": {
        "label": "CNN-FE_ELM + TinyRCE (learning) FP32",
        "macc": 23_400_000,
        "flash_kib": None,
        "ram_kib": None,
        "latency_ms": {"nucleo-l476rg": 2_380.0, "nucleo-h743zi": 216.0},
    },
}

INFERENCE_OF = {"cnn_bp_learning": "cnn_inference", "rce_learning": "rce_inference"}


def samples_per_training(name: str) -> float | None:
    """F x E of a learning column: its MACC over the matching single inference's; None for inference."""
    base = INFERENCE_OF.get(name)
    if base is None:
        return None
    return float(SEED[name]["macc"]) / float(SEED[base]["macc"])


def per_sample(name: str) -> dict[str, Any]:
    """The seed's figures for one learned sample (learning columns divided by F x E); inference as published."""
    fe = samples_per_training(name)
    s = SEED[name]
    if fe is None:
        return {"macc": s["macc"], "latency_ms": dict(s["latency_ms"]), "derived": False}
    return {
        "macc": round(s["macc"] / fe),
        "latency_ms": {b: round(v / fe, 2) for b, v in s["latency_ms"].items()},
        "derived": True,
        "samples_per_training": round(fe, 1),
    }
