"""Writes the classify example's model: three scores from four features.

With no arguments: model.onnx, scores = features x W + b, where class k
scores feature k (the fourth feature counts for nothing). A tiny graph, so
the example needs no download; `python3 make_model.py` (with
`pip install onnx`) rewrites it.

With --layers N --width W --out FILE: the same input and output around N
hidden layers of W units (MatMul, Add, Relu; seeded random weights), a
model whose compute dominates a call, for scripts/bench-inference.
"""

import argparse

import onnx
from onnx import TensorProto, helper


def tiny():
    weights = [
        1.0, 0.0, 0.0,
        0.0, 1.0, 0.0,
        0.0, 0.0, 1.0,
        0.0, 0.0, 0.0,
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "W"], ["product"]),
        helper.make_node("Add", ["product", "b"], ["scores"]),
    ]
    initializers = [
        helper.make_tensor("W", TensorProto.FLOAT, [4, 3], weights),
        helper.make_tensor("b", TensorProto.FLOAT, [3], [0.0, 0.0, 0.0]),
    ]
    return nodes, initializers


def heavy(layers, width):
    import numpy

    rng = numpy.random.default_rng(7)
    nodes, initializers = [], []
    previous, size = "features", 4
    for n in range(layers + 1):
        out = 3 if n == layers else width
        scale = 1.0 / numpy.sqrt(size)
        weights = (rng.standard_normal((size, out)) * scale).astype(numpy.float32)
        initializers.append(onnx.numpy_helper.from_array(weights, f"W{n}"))
        initializers.append(
            onnx.numpy_helper.from_array(numpy.zeros(out, numpy.float32), f"b{n}")
        )
        product, summed = f"p{n}", ("scores" if n == layers else f"s{n}")
        nodes.append(helper.make_node("MatMul", [previous, f"W{n}"], [product]))
        nodes.append(helper.make_node("Add", [product, f"b{n}"], [summed]))
        if n < layers:
            nodes.append(helper.make_node("Relu", [summed], [f"r{n}"]))
            previous = f"r{n}"
        size = out
    return nodes, initializers


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--layers", type=int, default=0)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--out", default="model.onnx")
    args = parser.parse_args()
    nodes, initializers = heavy(args.layers, args.width) if args.layers else tiny()
    graph = helper.make_graph(
        nodes,
        "classify",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 3])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="lattice-examples",
        opset_imports=[helper.make_opsetid("", 13)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, args.out)


if __name__ == "__main__":
    main()
