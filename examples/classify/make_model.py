"""Writes model.onnx, the classify example's model: three scores from four
features, scores = features x W + b, where class k scores feature k (the
fourth feature counts for nothing). A tiny graph, so the example needs no
download; `python3 make_model.py` (with `pip install onnx`) rewrites it.
"""

import onnx
from onnx import TensorProto, helper

weights = [
    1.0, 0.0, 0.0,
    0.0, 1.0, 0.0,
    0.0, 0.0, 1.0,
    0.0, 0.0, 0.0,
]
graph = helper.make_graph(
    [
        helper.make_node("MatMul", ["features", "W"], ["product"]),
        helper.make_node("Add", ["product", "b"], ["scores"]),
    ],
    "classify",
    [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3])],
    initializer=[
        helper.make_tensor("W", TensorProto.FLOAT, [4, 3], weights),
        helper.make_tensor("b", TensorProto.FLOAT, [3], [0.0, 0.0, 0.0]),
    ],
)
model = helper.make_model(
    graph,
    producer_name="lattice-examples",
    opset_imports=[helper.make_opsetid("", 13)],
)
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, "model.onnx")
