#!/usr/bin/env python3
"""Generate models/acme-7b/model.safetensors, a tiny but well-formed safetensors file.

The file is a stand-in for real weights: three small BF16 tensors filled with
deterministic pseudo-random values (fixed seed), so the output is byte-for-byte
reproducible. Standard library only (no numpy, no torch).

Layout (https://github.com/huggingface/safetensors):
  8 bytes   N, the header length, u64 little-endian
  N bytes   JSON header, padded with spaces so that 8 + N is a multiple of 8
  rest      tensor data; each tensor's data_offsets [begin, end) are relative to
            the start of this region, contiguous, and cover it exactly

Usage: python3 make_safetensors.py [OUTPUT]   (default: next to this script,
       models/acme-7b/model.safetensors)
"""

import json
import os
import random
import struct
import sys

SEED = 20261101

# (name, shape, generator). Tensors are written in this order.
TENSORS = [
    ("lm_head.weight", [16, 32], "normal"),
    ("model.embed_tokens.weight", [16, 32], "normal"),
    ("model.norm.weight", [32], "ones"),
]


def f32_to_bf16(x: float) -> int:
    """Round a float32 to bfloat16 (round to nearest, ties to even)."""
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    rounding = 0x7FFF + ((bits >> 16) & 1)
    return ((bits + rounding) >> 16) & 0xFFFF


def tensor_bytes(rng: random.Random, shape, kind) -> bytes:
    count = 1
    for dim in shape:
        count *= dim
    if kind == "normal":
        values = [rng.gauss(0.0, 0.02) for _ in range(count)]
    elif kind == "ones":
        # RMSNorm weights: close to 1.0
        values = [1.0 + rng.gauss(0.0, 0.01) for _ in range(count)]
    else:
        raise ValueError(kind)
    return b"".join(struct.pack("<H", f32_to_bf16(v)) for v in values)


def build() -> bytes:
    rng = random.Random(SEED)
    header = {"__metadata__": {"format": "pt"}}
    data = bytearray()
    for name, shape, kind in TENSORS:
        blob = tensor_bytes(rng, shape, kind)
        header[name] = {
            "dtype": "BF16",
            "shape": shape,
            "data_offsets": [len(data), len(data) + len(blob)],
        }
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "models", "acme-7b", "model.safetensors")
    blob = build()
    with open(out, "wb") as f:
        f.write(blob)
    print(f"wrote {out} ({len(blob)} bytes)")


if __name__ == "__main__":
    main()
