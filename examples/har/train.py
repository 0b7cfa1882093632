"""Train the reference HAR model on the smartwatch IMU set and export it for tinyodl.

    python examples/har/train.py [--epochs 30] [--seed 0] [--out examples/har/out]

Architecture (SPEC section 7): Conv1D(32,5,same,relu) -> Conv1D(32,5,same,relu) -> MaxPool(2) ->
Conv1D(64,5,same,relu) -> GlobalAveragePooling -> Dense(classes); about 1.12 M MACs, 17 K parameters.
Data: 6-channel windows of 100 samples (2 s at 50 Hz), stride 50; subjects 9 and 10 are held out.
Inputs are scaled per channel by the training set's standard deviation (a fixed preprocessing step the
device applies too; the factors are saved with the model).

Writes to --out: har.keras, har_f32.tflite, har_int8.tflite (int8 in and out, calibrated on training
windows), calibration.npz, test_windows.npz (x int8-ready float windows, y, subject), summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tinyodl.datasets import load_watch, split_by_subject, windows  # noqa: E402
from tinyodl.datasets.watch import CLASSES  # noqa: E402

TEST_SUBJECTS = (9, 10)


def build_model(classes: int):  # type: ignore[no-untyped-def]
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential(
        [
            tf.keras.Input((100, 6)),
            layers.Conv1D(32, 5, padding="same", activation="relu"),
            layers.Conv1D(32, 5, padding="same", activation="relu"),
            layers.MaxPooling1D(2),
            layers.Conv1D(64, 5, padding="same", activation="relu"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(classes),
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = ap.parse_args()

    import tensorflow as tf

    tf.keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    train_rec, test_rec = split_by_subject(load_watch(), TEST_SUBJECTS)
    xtr, ytr, _, _ = windows(train_rec, 100, 50)
    xte, yte, ste, _ = windows(test_rec, 100, 50)
    scale = xtr.reshape(-1, 6).std(axis=0).astype(np.float32)
    xtr, xte = xtr / scale, xte / scale

    model = build_model(len(CLASSES))
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])  # fmt: skip
    model.fit(xtr, ytr, epochs=args.epochs, batch_size=64, shuffle=True, verbose=2)
    f32_acc = float(np.mean(np.argmax(model.predict(xte, verbose=0), axis=1) == yte))

    args.out.mkdir(parents=True, exist_ok=True)
    model.save(args.out / "har.keras")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    (args.out / "har_f32.tflite").write_bytes(conv.convert())
    rng = np.random.default_rng(args.seed)
    calibration = xtr[rng.choice(len(xtr), 200, replace=False)]

    def representative():  # type: ignore[no-untyped-def]
        for i in range(len(calibration)):
            yield [calibration[i : i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (args.out / "har_int8.tflite").write_bytes(conv.convert())
    np.savez(args.out / "calibration.npz", x=calibration)
    np.savez(args.out / "test_windows.npz", x=xte, y=yte, subject=ste, scale=scale)

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(args.out / "har_int8.tflite"),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)  # fmt: skip
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    s, z = inp["quantization"]
    correct = 0
    for x, y in zip(xte, yte, strict=True):
        q = np.clip(np.round(x / s) + z, -128, 127).astype(np.int8)[None]
        it.set_tensor(inp["index"], q)
        it.invoke()
        correct += int(np.argmax(it.get_tensor(out["index"])[0]) == y)
    summary = {
        "train_windows": int(len(xtr)),
        "test_windows": int(len(xte)),
        "test_subjects": list(TEST_SUBJECTS),
        "accuracy_f32": round(f32_acc, 4),
        "accuracy_int8": round(correct / len(xte), 4),
        "params": int(model.count_params()),
        "input_scale_per_channel": [float(v) for v in scale],
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
