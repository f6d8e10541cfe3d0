#!/usr/bin/env python3
"""Writes a few small valid safetensors files as a libFuzzer seed corpus.

    make_corpus.py DIR && fuzz_safetensors -dict=tests/fuzz/safetensors.dict DIR
"""
import json
import os
import struct
import sys

SEEDS = {
    "f32": ({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, 8),
    "mixed": ({"h": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
               "b": {"dtype": "BF16", "shape": [], "data_offsets": [8, 10]},
               "p": {"dtype": "I64", "shape": [1, 1], "data_offsets": [10, 18]}}, 18),
    "dims": ({"x": {"dtype": "I32", "shape": [1, 2, 1, 1], "data_offsets": [0, 8]},
              "y": {"dtype": "U8", "shape": [1, 1, 1, 1, 1, 3], "data_offsets": [8, 11]},
              "e": {"dtype": "F32", "shape": [0, 5], "data_offsets": [11, 11]}}, 11),
    "empty": ({}, 0),
}


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, (header, size) in SEEDS.items():
        h = json.dumps(header, separators=(",", ":")).encode()
        with open(os.path.join(out, name), "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + bytes(range(size)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "corpus")
