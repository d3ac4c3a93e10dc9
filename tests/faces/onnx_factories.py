"""Small ONNX models built by the tests with onnx.helper, shaped like insightface's (random weights).

No pretrained weights are used or downloaded: the models only have the shapes of the contract, so
the loading, routing, preprocessing and provider checks can be tested on real faces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 8  # onnxruntime-gpu rejects IR 14, which newer onnx writes by default
OPSET = [helper.make_operatorsetid("", 13)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="likeness-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def arcface_like(path: Path, *, size: int = 112, dim: int = 512, seed: int = 0, self_normalising: bool = False,
                 output_shape: list[object] | None = None) -> Path:
    """Input [N, 3, size, size] float32 → average-pool 8×8 → flatten → a random [*, dim] projection → [N, dim].

    ``self_normalising`` adds a ``Sub`` and a ``Mul`` node first, like old MXNet exports (then the
    loader must feed raw pixels). ``output_shape`` reshapes the output (to test a wrong shape).
    """
    rng = np.random.default_rng(seed)
    cells = 3 * (size // 8) * (size // 8)
    weight = numpy_helper.from_array(rng.normal(0, 1 / np.sqrt(cells), (cells, dim)).astype(np.float32), "W")
    nodes, initializers, first = [], [weight], "input.1"
    if self_normalising:
        initializers += [numpy_helper.from_array(np.array(127.5, np.float32), "mean"),
                         numpy_helper.from_array(np.array(1 / 127.5, np.float32), "scale")]
        nodes += [helper.make_node("Sub", ["input.1", "mean"], ["centred"], name="Sub_0"),
                  helper.make_node("Mul", ["centred", "scale"], ["scaled"], name="Mul_1")]
        first = "scaled"
    nodes += [
        helper.make_node("AveragePool", [first], ["pooled"], kernel_shape=[8, 8], strides=[8, 8], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1, name="flatten"),
        helper.make_node("MatMul", ["flat", "W"], ["embedding"], name="fc"),
    ]
    out_name, out_shape = "embedding", ["N", dim]
    if output_shape is not None:
        initializers.append(numpy_helper.from_array(np.array([-1, *output_shape[1:]], np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["embedding", "shape"], ["reshaped"], name="reshape"))
        out_name, out_shape = "reshaped", output_shape
    graph = helper.make_graph(
        nodes, "arcface_like",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializers,
    )
    return _save(graph, path)


def scrfd_like(path: Path) -> Path:
    """A detector-shaped model: dynamic-size image in, nine outputs (scores, boxes, keypoints × 3 strides)."""
    nodes, outputs = [], []
    for kind in ("score", "bbox", "kps"):
        for stride in (8, 16, 32):
            name = f"{kind}_{stride}"
            nodes.append(helper.make_node("AveragePool", ["input.1"], [f"p_{name}"], kernel_shape=[stride, stride],
                                          strides=[stride, stride]))
            nodes.append(helper.make_node("ReduceMean", [f"p_{name}"], [name], axes=[1], keepdims=1))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, f"h{stride}", f"w{stride}"]))
    graph = helper.make_graph(nodes, "scrfd_like",
                              [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "H", "W"])], outputs)
    return _save(graph, path)
