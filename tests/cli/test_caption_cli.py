#!/usr/bin/env python3
"""`mmrun caption` tests, one case per invocation (argv[1]), with the
vit-gpt2 fixture and its two images. Shares the helpers of test_cli.py."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cli import REQUIRE_VULKAN, SKIP, expect_error, fixture, run, run_case  # noqa: E402

IMAGES = ["coco-000000039769.png", "lavis-merlion.png"]


def model():
    return fixture("vit-gpt2-tiny-random")


def images():
    return [os.path.join(model(), f) for f in IMAGES]


def reference(section):
    with open(os.path.join(model(), "expected.json")) as f:
        res = json.load(f)[section]["results"]
    out = []
    for r in res:
        ids = r["ids"][1:]  # without the start token
        out.append(ids[: r.get("compare_ids_up_to_step", len(ids))])
    return out


def caption(*args, backend="cpu", expect_ok=True):
    p = run("caption", "-m", model(), *args, "--json", "--backend", backend, timeout=600)
    if p.returncode != 0 and backend == "vulkan" and not REQUIRE_VULKAN and "vulkan" in p.stderr.lower():
        print("SKIP: no Vulkan device")
        sys.exit(SKIP)
    if expect_ok:
        assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else None, p


def check(backend, beams, section):
    out, _ = caption(*images(), "--beams", str(beams), "--max-tokens", "16", backend=backend)
    assert [o["image"] for o in out] == images()
    for o, want in zip(out, reference(section)):
        assert o["tokens"][: len(want)] == want, f"{o['tokens']} != {want}"
        assert isinstance(o["caption"], str) and o["caption"] and o["ms"] > 0


def case_greedy_cpu(tmp):
    check("cpu", 1, "greedy")


def case_greedy_vulkan(tmp):
    check("vulkan", 1, "greedy")


def case_beam_cpu(tmp):
    check("cpu", 3, "beam")


def case_beam_vulkan(tmp):
    check("vulkan", 3, "beam")


def case_batch_equals_single(tmp):
    both, _ = caption(*images(), "--beams", "3", "--max-tokens", "16", "--batch", "2")
    for img, b in zip(images(), both):
        one, _ = caption(img, "--beams", "3", "--max-tokens", "16", "--batch", "1")
        assert one[0]["tokens"] == b["tokens"], img
    # a batch bigger than the input, and a folder of both images (sorted by name)
    folder, p = caption(model(), "--beams", "1", "--max-tokens", "16", "--batch", "5")
    assert [o["tokens"] for o in folder] == [o["tokens"] for o in caption(*images(), "--beams", "1", "--max-tokens", "16")[0]]


def case_sampling(tmp):
    greedy, _ = caption(*images(), "--beams", "1", "--max-tokens", "12")
    a, _ = caption(*images(), "--temperature", "1", "--top-k", "40", "--top-p", "0.9", "--seed", "11", "--max-tokens", "12")
    b, _ = caption(*images(), "--temperature", "1", "--top-k", "40", "--top-p", "0.9", "--seed", "11", "--max-tokens", "12")
    assert [o["tokens"] for o in a] == [o["tokens"] for o in b], "same seed, other captions"
    c, _ = caption(*images(), "--temperature", "1", "--top-k", "40", "--seed", "12", "--max-tokens", "12")
    assert [o["tokens"] for o in c] != [o["tokens"] for o in a], "another seed, the same captions"
    k1, _ = caption(*images(), "--temperature", "1.5", "--top-k", "1", "--seed", "3", "--max-tokens", "12")
    assert [o["tokens"] for o in k1] == [o["tokens"] for o in greedy], "top-k 1 is not greedy"
    cold, _ = caption(*images(), "--temperature", "0.0001", "--seed", "3", "--max-tokens", "12")
    assert [o["tokens"] for o in cold] == [o["tokens"] for o in greedy], "temperature -> 0 is not greedy"
    expect_error(run("caption", "-m", model(), images()[0], "--temperature", "1", "--beams", "3"), "--beams", code=2)


def case_bad_inputs(tmp):
    os.makedirs(tmp)
    broken = os.path.join(tmp, "broken.png")
    with open(images()[0], "rb") as f:
        head = f.read(200)
    with open(broken, "wb") as f:
        f.write(head)
    text = os.path.join(tmp, "notes.jpg")
    with open(text, "w") as f:
        f.write("not an image\n")
    empty = os.path.join(tmp, "empty.png")
    open(empty, "w").close()
    missing = os.path.join(tmp, "missing.png")
    out, p = caption(broken, images()[0], text, empty, images()[1], missing, "--beams", "1", "--max-tokens", "16",
                     expect_ok=False)
    assert p.returncode == 1, f"exit {p.returncode}"
    errors = [l for l in p.stderr.splitlines() if l.startswith("mmrun: error: ")]
    for path in (broken, text, empty, missing):
        assert sum(path in l for l in errors) == 1, f"no one-line error for {path}: {errors}"
    assert [o["image"] for o in out] == images(), "the good images were not captioned"
    assert [o["tokens"] for o in out] == reference("greedy")
    # models that cannot caption, a folder without images, usage errors
    expect_error(run("caption", "-m", fixture("whisper-tiny-random"), images()[0]), "not an image captioner")
    expect_error(run("caption", "-m", os.path.join(tmp, "nothing"), images()[0]), "nothing")
    expect_error(run("caption", "-m", model(), tmp + "/empty-folder-missing"), "empty-folder-missing")
    os.makedirs(os.path.join(tmp, "nothing-here"))
    expect_error(run("caption", "-m", model(), os.path.join(tmp, "nothing-here")), "no images")
    expect_error(run("caption", images()[0]), "-m", code=2)
    expect_error(run("caption", "-m", model(), images()[0], "--beams", "0"), "--beams", code=2)


def case_sample_program(tmp):
    """samples/caption.c through the public API gives mmrun's caption."""
    img = images()[1]
    p = subprocess.run([os.environ["SAMPLE_CAPTION"], model(), img], capture_output=True, text=True, timeout=600)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stderr
    out, _ = caption(img)
    assert p.stdout == out[0]["caption"] + "\n", (p.stdout, out[0]["caption"])


if __name__ == "__main__":
    run_case(globals())
