"""Writes the safetensors fixtures in Tests/CheckpointTests/Fixtures with the official `safetensors` package.

- reference.safetensors: mixed dtypes and edge values; the Swift reader is tested against it.
- f32_writer_reference.safetensors: F32 tensors the Swift writer also writes; its output must match byte for byte.
The values below are mirrored in CheckpointTests.swift.
Run with a Python that has torch and safetensors:  python tools/make_safetensors_fixture.py
"""
import math
from pathlib import Path

import torch
from safetensors.torch import save_file

tensors = {
    # Plain F32 matrix, row-major.
    "linear.weight": torch.tensor([[0.5, -1.25, 3.0], [1024.0, -0.0078125, 7.0]], dtype=torch.float32),
    # F16 edge values: max finite, min normal, min subnormal, largest subnormal, ±inf, nan, -0, 1.
    "half.edges": torch.tensor(
        [65504.0, 2.0**-14, 2.0**-24, 1023 * 2.0**-24, math.inf, -math.inf, math.nan, -0.0, 1.0],
        dtype=torch.float16,
    ),
    # BF16 edge values: max finite, min normal, min subnormal, -inf, nan, pi rounded to bf16 (3.140625).
    "bf16.edges": torch.tensor(
        [3.3895313892515355e38, 2.0**-126, 2.0**-133, -math.inf, math.nan, 3.140625],
        dtype=torch.bfloat16,
    ),
    # F64 scalar (0-d tensor).
    "double.scalar": torch.tensor(-2.5, dtype=torch.float64),
    # Integer tensor: readable, but not convertible with floats().
    "token.ids": torch.tensor([1, 2, 50256], dtype=torch.int64),
    # Zero-sized tensor.
    "empty": torch.zeros((0, 4), dtype=torch.float32),
}

# Given in unsorted order on purpose: the writer sorts by name. One metadata key only, since the reference
# writer's metadata order is not defined.
writer_tensors = {
    "wte": torch.arange(6, dtype=torch.float32).reshape(3, 2) / 4,
    "h.0.ln_1.bias": torch.tensor([-1.5, 2.0, 0.0], dtype=torch.float32),
    "ln_f.weight": torch.tensor(1.0, dtype=torch.float32),
}

fixtures = Path(__file__).resolve().parent.parent / "Tests/CheckpointTests/Fixtures"
fixtures.mkdir(parents=True, exist_ok=True)
for name, contents, metadata in [
    ("reference.safetensors", tensors, {"format": "pt", "note": "fixture \"quoted\" ü"}),
    ("f32_writer_reference.safetensors", writer_tensors, {"format": "pt"}),
]:
    output = fixtures / name
    save_file(contents, str(output), metadata=metadata)
    print(f"wrote {output} ({output.stat().st_size} bytes)")
