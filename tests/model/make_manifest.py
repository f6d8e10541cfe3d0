#!/usr/bin/env python3
"""Writes the oracle for test_model_fixtures: every tensor of every
fixtures/*/{model,expected}.safetensors with dtype, shape, byte size, CRC32
of the raw bytes and three sample values. Standard library only, and its own
safetensors parser, so the test does not check the C parser against itself.

    make_manifest.py SHARED_DIR > tests/model/fixture_manifest.txt
    make_manifest.py --check MANIFEST SHARED_DIR   (meson test: 77 = skip;
                                                 $MM_SHARED_DIR overrides)
"""
import glob
import json
import os
import struct
import sys
import zlib

# dtype -> (bytes per element, struct format or None when not loaded by libmm)
DTYPES = {
    "F32": (4, "<f"), "F16": (2, "<e"), "BF16": (2, "bf16"), "I32": (4, "<i"),
    "F64": (8, None), "I64": (8, None), "U64": (8, None), "U32": (4, None),
    "I16": (2, None), "U16": (2, None), "I8": (1, None), "U8": (1, None),
    "BOOL": (1, None), "F8_E4M3": (1, None), "F8_E5M2": (1, None),
}


def value(raw, fmt, i, size):
    b = raw[i * size:(i + 1) * size]
    if fmt == "bf16":
        return "%.9g" % struct.unpack("<f", b"\0\0" + b)[0]
    v = struct.unpack(fmt, b)[0]
    return "%d" % v if fmt == "<i" else "%.9g" % v


def describe(rel, path):
    with open(path, "rb") as f:
        buf = f.read()
    (hlen,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + hlen].decode("utf-8"))
    data = buf[8 + hlen:]
    lines, skipped = [], []
    for name in sorted(k for k in header if k != "__metadata__"):
        t = header[name]
        assert not any(c.isspace() for c in name), name
        size, fmt = DTYPES[t["dtype"]]
        begin, end = t["data_offsets"]
        raw = data[begin:end]
        n = 1
        for d in t["shape"]:
            n *= d
        assert len(raw) == end - begin == n * size, name
        if fmt is None:
            skipped.append("skip %s %s" % (name, t["dtype"]))
            continue
        shape = ",".join(str(d) for d in t["shape"]) or "-"
        samples = " ".join("%d:%s" % (i, value(raw, fmt, i, size)) for i in sorted({0, n // 2, n - 1}) if n)
        lines.append("t %s %s %d %s %d %08x %s" % (name, t["dtype"], len(t["shape"]), shape, end - begin,
                                                    zlib.crc32(raw) & 0xFFFFFFFF, samples))
    return ["file %s %d" % (rel, len(lines))] + lines + skipped


def manifest(shared):
    out = ["# Oracle for tests/model/test_model_fixtures.c, written by make_manifest.py; do not edit.",
           "# file <fixture>/<file> <loaded tensors>",
           "# t <name> <dtype> <n_dims> <shape|-> <nbytes> <crc32> <index>:<value %.9g> ...",
           "# skip <name> <dtype>   (present in the file, not loaded by libmm)"]
    for pattern in ("*/model.safetensors", "*/expected.safetensors"):
        for path in sorted(glob.glob(os.path.join(shared, "fixtures", pattern))):
            out += describe(os.path.relpath(path, os.path.join(shared, "fixtures")), path)
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) == 4 and argv[1] == "--check":
        manifest_path, shared = argv[2], os.environ.get("MM_SHARED_DIR") or argv[3]
        if not glob.glob(os.path.join(shared, "fixtures", "*", "model.safetensors")):
            print("SKIP: no fixtures under %s" % shared)
            return 1 if os.environ.get("MM_REQUIRE_FIXTURES") == "1" else 77
        with open(manifest_path) as f:
            want = f.read()
        got = manifest(shared)
        if got != want:
            for i, (a, b) in enumerate(zip(got.splitlines(), want.splitlines())):
                if a != b:
                    print("line %d differs:\n  fixtures: %s\n  manifest: %s" % (i + 1, a, b))
                    break
            print("%s is stale: regenerate it with make_manifest.py" % manifest_path)
            return 1
        print("manifest matches %d fixture files" % got.count("\nfile "))
        return 0
    if len(argv) == 2:
        sys.stdout.write(manifest(argv[1]))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
