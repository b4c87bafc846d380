"""The native baseline of scripts/bench-inference: ONNX Runtime from Python
running MODEL on the classify example's input, sequentially, for SECS
seconds with THREADS intra-op threads (0: ONNX Runtime's default). Prints
one line: inferences per second and the p50 and p99 of one inference, in
milliseconds.
"""

import sys
import time

import numpy
import onnxruntime


def main():
    model, threads, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        model, options, providers=["CPUExecutionProvider"]
    )
    features = numpy.array([[0.9, 0.1, 0.2, 0.0]], dtype=numpy.float32)
    for _ in range(20):
        session.run(None, {"features": features})
    times = []
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        start = time.perf_counter()
        session.run(None, {"features": features})
        times.append(time.perf_counter() - start)
    times.sort()
    p50 = times[len(times) // 2] * 1e3
    p99 = times[int(len(times) * 0.99)] * 1e3
    print(f"{len(times) / secs:.1f} {p50:.3f} {p99:.3f}")


if __name__ == "__main__":
    main()
