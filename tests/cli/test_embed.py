#!/usr/bin/env python3
"""mmrun embed / classify / index / search against the clip-tiny-random
fixture (transformers' outputs), and their bad input. One case per
invocation (argv[1]; argv[2] the backend where it matters). Exit 77: skipped."""
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cli import MMRUN, REQUIRE_VULKAN, SKIP, expect_error, fixture, run, run_case  # noqa: E402

TEXTS = None  # the fixture's texts, from expected.json


# ---- fixture references ----------------------------------------------------

def read_safetensors(path):
    """{name: (shape, [floats])} of an all-F32 safetensors file (no numpy)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = (t["shape"], list(struct.unpack(f"<{(b - a) // 4}f", blob[a:b])))
    return out


def clip_fixture():
    d = fixture("clip-tiny-random")
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    ref = read_safetensors(os.path.join(d, "expected.safetensors"))
    images = [os.path.join(d, i["file"]) for i in exp["inputs"]["images"]]
    return d, exp, ref, images


def rows(ref, name):
    shape, v = ref[name]
    cols = shape[-1]
    return [v[i * cols:(i + 1) * cols] for i in range(len(v) // cols)]


def assert_close(got, want, atol, rtol, what):
    assert len(got) == len(want), f"{what}: {len(got)} rows, expected {len(want)}"
    worst = 0.0
    for r, (g, w) in enumerate(zip(got, want)):
        assert len(g) == len(w), f"{what}[{r}]: {len(g)} values, expected {len(w)}"
        for j, (x, y) in enumerate(zip(g, w)):
            err = abs(x - y)
            worst = max(worst, err)
            assert err <= atol + rtol * abs(y), f"{what}[{r}][{j}] = {x}, expected {y} (atol {atol}, rtol {rtol})"
    print(f"{what}: max abs error {worst:.3g}")


def tol(exp, name):
    t = exp["tensors"][name]
    return t["recommended_atol"], t["recommended_rtol"]


def backend_args(backend):
    """--backend for a case; exits 77 when Vulkan is asked for and missing."""
    if backend == "vulkan":
        p = run("--backend", "vulkan", "info")
        if p.returncode != 0:
            if REQUIRE_VULKAN:
                raise AssertionError("--backend vulkan failed (MM_REQUIRE_VULKAN=1)")
            print("SKIP: no Vulkan device")
            sys.exit(SKIP)
    return ["--backend", backend]


# ---- images written here (no PIL) ------------------------------------------

def png_bytes(w, h, pixel, ihdr_size=None):
    """An 8-bit RGB PNG; pixel(x, y) -> (r, g, b). ihdr_size lies about the size."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + bytes(c for x in range(w) for c in pixel(x, y)) for y in range(h))
    iw, ih = ihdr_size or (w, h)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", iw, ih, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def bad_images(folder, jpeg):
    """Corrupt, truncated, empty and oversized files named as images."""
    good = png_bytes(16, 16, lambda x, y: (x * 16, y * 16, 128))
    with open(jpeg, "rb") as f:
        jpg = f.read()
    sof = jpg.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    huge_jpg = jpg[:sof + 5] + struct.pack(">HH", 65000, 65000) + jpg[sof + 9:]
    files = {
        "corrupt.png": good[:40] + bytes(range(256)) * 4 + good[-12:],
        "truncated.png": good[:len(good) // 2],
        "truncated.jpg": jpg[:len(jpg) // 3],
        "corrupt.jpg": jpg[:200] + b"\x00" * 5000,
        "empty.jpg": b"",
        "huge.png": png_bytes(4, 4, lambda x, y: (0, 0, 0), ihdr_size=(100000, 100000)),
        "huge.jpg": huge_jpg,
    }
    paths = []
    for name, data in files.items():
        write(os.path.join(folder, name), data)
        paths.append(os.path.join(folder, name))
    return paths


def db_rows(db):
    c = sqlite3.connect(db)
    try:
        return {p: (s, m, struct.unpack(f"<{len(e) // 4}f", e))
                for p, s, m, e in c.execute("SELECT path, size, mtime_ns, embedding FROM images")}
    finally:
        c.close()


def summary(p):
    """The counts of `mmrun index`'s summary line."""
    line = next(l for l in p.stdout.splitlines() if l.startswith("indexed "))
    m = re.search(r": (\d+) images: (\d+) embedded, (\d+) unchanged, (\d+) removed, (\d+) unreadable; .* holds (\d+)$",
                  line)
    assert m, line
    return dict(zip(["images", "embedded", "unchanged", "removed", "unreadable", "holds"], map(int, m.groups())))


# ---- embed ---------------------------------------------------------------------

def case_embed_json(tmp, backend="cpu"):
    """--json gives CLIPModel's image_embeds and text_embeds (input order),
    --raw the projections, --npy the same values as one array."""
    d, exp, ref, images = clip_fixture()
    texts = exp["inputs"]["texts"]
    args = [*backend_args(backend), "embed", "-m", d]
    for i in images:
        args += ["--image", i]
    for t in texts:
        args += ["--text", t]
    p = run(*args, "--json", "--batch", "2")  # batches of 2: a full one, then a short one
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert sorted(out) == ["image_embeds", "text_embeds"], out.keys()
    assert_close(out["image_embeds"], rows(ref, "image_embeds"), *tol(exp, "image_embeds"), "image_embeds")
    assert_close(out["text_embeds"], rows(ref, "text_embeds"), *tol(exp, "text_embeds"), "text_embeds")

    p = run(*args, "--json", "--raw")
    assert p.returncode == 0, p.stderr
    raw = json.loads(p.stdout)
    assert_close(raw["image_embeds"], rows(ref, "image_embeds_unnormalized"),
                 *tol(exp, "image_embeds_unnormalized"), "raw image_embeds")
    assert_close(raw["text_embeds"], rows(ref, "text_embeds_unnormalized"),
                 *tol(exp, "text_embeds_unnormalized"), "raw text_embeds")

    npy = os.path.join(tmp, "e.npy")
    os.makedirs(tmp, exist_ok=True)
    p = run(*args, "--npy", npy, "--batch", "2")  # the batches of the --json run
    assert p.returncode == 0 and p.stdout == "", p.stderr
    with open(npy, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x93NUMPY\x01\x00"
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode()
    assert (10 + hlen) % 64 == 0 and header.endswith("\n"), header
    assert "'descr': '<f4'" in header and f"'shape': ({len(images) + len(texts)}, 32)" in header, header
    v = struct.unpack(f"<{(len(data) - 10 - hlen) // 4}f", data[10 + hlen:])
    flat = [x for r in out["image_embeds"] + out["text_embeds"] for x in r]
    assert list(v) == list(struct.unpack(f"<{len(flat)}f", struct.pack(f"<{len(flat)}f", *flat))), "npy != json"

    # the plain listing names every input with its norm
    p = run(*args)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("[32 values, norm 1.0000]") == len(images) + len(texts), p.stdout
    assert f"text 5: {texts[4]}" in p.stdout and f"image 1: {images[0]}" in p.stdout


def case_embed_long_text(tmp):
    """A text longer than the context is truncated (its first n_ctx tokens,
    the end token kept), as transformers' truncation=True, with a warning."""
    d, exp, ref, images = clip_fixture()
    with open(os.path.join(d, "config.json")) as f:
        n_ctx = json.load(f).get("text_config", {}).get("max_position_embeddings", 77)
    # "cat" is one token: bos + 300 cats + eos truncates to bos + (n_ctx - 2) cats + eos
    p = run("-b", "cpu", "embed", "-m", d, "--text", "cat " * 300, "--text", "cat " * (n_ctx - 2), "--json")
    assert p.returncode == 0, p.stderr
    assert f"mmrun: warning: text 1 has 302 tokens and the model reads {n_ctx}: truncated" in p.stderr, p.stderr
    assert "text 2" not in p.stderr
    t = json.loads(p.stdout)["text_embeds"]
    assert_close([t[0]], [t[1]], 1e-6, 0, "truncated text")


def case_embed_bad_input(tmp):
    """Each bad image is a clear error naming the file (exit 1), never a
    crash; wrong usage is a one-line error (exit 2)."""
    d, exp, ref, images = clip_fixture()
    for path in bad_images(tmp, images[2]) + [os.path.join(tmp, "missing.png")]:
        p = run("-b", "cpu", "embed", "-m", d, "--image", images[0], "--image", path, "--json")
        expect_error(p, path)
        assert p.stdout == "", "output despite an error"
        if "huge" in path:
            assert "pixels" in p.stderr, p.stderr
    expect_error(run("embed", "--text", "a"), "embed needs a model folder", code=2)
    expect_error(run("embed", "-m", d), "embed needs --image FILE or --text TEXT", code=2)
    expect_error(run("embed", "-m", d, "--text", "a", "--json", "--npy", "x.npy"), "exclusive", code=2)
    expect_error(run("-b", "cpu", "embed", "-m", os.path.join(tmp, "nope"), "--text", "a"), "config.json")
    expect_error(run("-b", "cpu", "embed", "-m", fixture("vit-gpt2-tiny-random"), "--text", "a"), "embedder")
    p = run("-b", "cpu", "embed", "-m", d, "--text", "\xff".encode("latin-1").decode("utf-8", "surrogateescape"))
    expect_error(p, "text 1")


# ---- classify --------------------------------------------------------------------

def case_classify_probs(tmp, backend="cpu"):
    """Zero-shot probabilities equal the fixture's softmax(logits_per_image)."""
    d, exp, ref, images = clip_fixture()
    texts = exp["inputs"]["texts"]
    p = run(*backend_args(backend), "classify", "-m", d, *images, "--labels", ", ".join(texts), "--json",
            "--top", "2")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["labels"] == texts
    assert [r["image"] for r in out["results"]] == images
    want = rows(ref, "probs")
    assert_close([r["probs"] for r in out["results"]], want, *tol(exp, "probs"), "probs")
    for r, w in zip(out["results"], want):
        best = sorted(range(len(texts)), key=lambda t: -w[t])[:2]
        assert [x["label"] for x in r["top"]] == [texts[t] for t in best], r["top"]

    # plain output; labels from a file (blank lines and CRLF ends ignored)
    os.makedirs(tmp, exist_ok=True)
    lf = os.path.join(tmp, "labels.txt")
    with open(lf, "w") as f:
        f.write("\r\n".join(texts[:2]) + "\r\n\n" + "\n".join(texts[2:]) + "\n")
    p = run(*backend_args(backend), "classify", "-m", d, images[0], "--labels-file", lf)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == images[0] and len(lines) == 6, lines
    top = max(range(5), key=lambda t: want[0][t])
    assert lines[1].split("%  ", 1)[1] == texts[top] and abs(float(lines[1].split("%")[0]) - 100 * want[0][top]) < 0.01


def case_classify_bad_input(tmp):
    d, exp, ref, images = clip_fixture()
    os.makedirs(tmp, exist_ok=True)
    bad = bad_images(tmp, images[2])[0]
    p = run("-b", "cpu", "classify", "-m", d, images[0], bad, "--labels", "a dog,a cat", "--json")
    expect_error(p, bad, "1 of 2 images could not be read")
    out = json.loads(p.stdout)  # the good image is still classified
    assert out["results"][0]["image"] == images[0] and len(out["results"][0]["probs"]) == 2
    assert out["results"][1] == {"image": bad, "error": "cannot read the image"}
    expect_error(run("classify", "-m", d, images[0]), "--labels", code=2)
    expect_error(run("classify", "-m", d, images[0], "--labels", "a", "--labels-file", "f"), "--labels", code=2)
    expect_error(run("classify", "-m", d, "--labels", "a,b"), "classify needs at least one image", code=2)
    expect_error(run("-b", "cpu", "classify", "-m", d, images[0], "--labels", " , ,"), "no labels")
    expect_error(run("-b", "cpu", "classify", "-m", d, images[0], "--labels-file", os.path.join(tmp, "nope")), "nope")


# ---- index -------------------------------------------------------------------------

def index(folder, db, *extra, model=None):
    args = ["-b", "cpu", "index", folder, "--db", db, *extra]
    if model:
        args += ["-m", model]
    return run(*args, timeout=300)


def case_index_incremental(tmp):
    """A second run embeds nothing; a rewritten file is re-embedded, a new
    one added, a deleted one dropped; stored vectors are the fixture's."""
    d, exp, ref, images = clip_fixture()
    folder, db = os.path.join(tmp, "photos"), os.path.join(tmp, "index.db")
    os.makedirs(os.path.join(folder, "sub", ".hidden"))
    names = ["a.png", "sub/b.PNG", "c.jpg"]
    for src, name in zip(images, names):
        shutil.copy(src, os.path.join(folder, name))
    shutil.copy(images[0], os.path.join(folder, "sub", ".hidden", "x.png"))  # hidden: not indexed
    write(os.path.join(folder, "notes.txt"), b"not an image")                  # by extension: not indexed
    p = index(folder, db, "--batch", "2", model=d)
    assert p.returncode == 0, p.stderr
    assert summary(p) == {"images": 3, "embedded": 3, "unchanged": 0, "removed": 0, "unreadable": 0, "holds": 3}
    assert "index: 3/3 images [" in p.stderr and "images/s, ETA" in p.stderr, p.stderr
    stored = db_rows(db)
    paths = [os.path.join(os.path.realpath(folder), n) for n in names]
    assert sorted(stored) == sorted(paths)
    assert_close([stored[q][2] for q in paths], rows(ref, "image_embeds"), *tol(exp, "image_embeds"), "stored")
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    c.close()

    p = index(folder, db)  # the index knows its model
    assert p.returncode == 0, p.stderr
    assert summary(p)["embedded"] == 0 and summary(p)["unchanged"] == 3, p.stdout

    # rewrite a.png with c.jpg's image (new size and mtime), add one, delete one
    time.sleep(0.01)
    shutil.copy(images[2], paths[0])
    os.utime(paths[0], ns=(time.time_ns(), time.time_ns()))
    shutil.copy(images[1], os.path.join(folder, "sub", "new.jpeg"))
    os.remove(paths[1])
    p = index(folder, db, model=d)
    assert p.returncode == 0, p.stderr
    assert summary(p) == {"images": 3, "embedded": 2, "unchanged": 1, "removed": 1, "unreadable": 0, "holds": 3}
    stored = db_rows(db)
    assert paths[1] not in stored
    assert_close([stored[paths[0]][2]], [rows(ref, "image_embeds")[2]], *tol(exp, "image_embeds"), "re-embedded")
    assert stored[paths[0]][0] == os.path.getsize(paths[0])

    # the same bytes with only a new mtime (touch) are embedded again too
    os.utime(paths[2], ns=(time.time_ns(), time.time_ns() + 10**9))
    p = index(folder, db)
    assert summary(p)["embedded"] == 1 and summary(p)["unchanged"] == 2, p.stdout


def case_index_bad_files(tmp):
    """Unreadable images are skipped and listed; the rest are indexed; exit 0."""
    d, exp, ref, images = clip_fixture()
    folder, db = os.path.join(tmp, "photos"), os.path.join(tmp, "index.db")
    os.makedirs(folder)
    for i, src in enumerate(images):
        shutil.copy(src, os.path.join(folder, f"good{i}{os.path.splitext(src)[1]}"))
    bad = bad_images(folder, images[2])
    p = index(folder, db, "--batch", "3", model=d)
    assert p.returncode == 0, p.stderr
    assert summary(p) == {"images": 3 + len(bad), "embedded": 3, "unchanged": 0, "removed": 0,
                          "unreadable": len(bad), "holds": 3}, p.stdout
    listing = p.stderr.split("could not be read and are not in the index:\n", 1)[1].split()
    assert sorted(listing) == sorted(os.path.realpath(b) for b in bad), listing
    for b in bad:
        assert f"mmrun: warning: {os.path.realpath(b)}: " in p.stderr, b
    assert len(db_rows(db)) == 3
    # a good file that turns bad loses its row (its embedding is stale)
    good0 = os.path.join(folder, "good0.png")
    write(good0, b"\x89PNG broken")
    p = index(folder, db)
    assert p.returncode == 0 and summary(p)["unreadable"] == len(bad) + 1 and len(db_rows(db)) == 2, p.stdout


def case_index_killed(tmp):
    """SIGKILL after the first batches commit: no committed row is lost, and
    the next run embeds exactly the rest."""
    d, exp, ref, images = clip_fixture()
    folder, db = os.path.join(tmp, "photos"), os.path.join(tmp, "index.db")
    os.makedirs(folder)
    # big enough to decode slowly (~tens of ms each), small on disk
    big = png_bytes(1200, 1200, lambda x, y: ((x * 7) & 255, (y * 3) & 255, (x ^ y) & 255))
    n = 60
    for i in range(n):
        write(os.path.join(folder, f"img{i:03d}.png"), big)
    proc = subprocess.Popen([MMRUN, "-b", "cpu", "-t", "1", "index", folder, "--db", db, "-m", d, "--batch", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, t0 = 0, time.time()
    while time.time() - t0 < 120 and proc.poll() is None:
        try:
            c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            seen = c.execute("SELECT count(*) FROM images").fetchone()[0]
            c.close()
        except sqlite3.Error:
            seen = 0
        if seen >= 4:
            break
        time.sleep(0.005)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    print(f"killed after {seen} rows were visible; still running when killed: {killed}")
    assert killed, "the run finished before the kill: make the images slower"
    after = db_rows(db)
    assert seen <= len(after) < n, (seen, len(after))
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    c.close()
    p = index(folder, db, "--batch", "4")
    assert p.returncode == 0, p.stderr
    s = summary(p)
    assert s["embedded"] == n - len(after) and s["unchanged"] == len(after) and s["holds"] == n, s
    final = db_rows(db)
    for path, row in after.items():  # rows committed before the kill are still there, unchanged
        assert final[path] == row


def case_index_bad_db(tmp):
    """A --db that is not SQLite, a foreign SQLite file, an index of another
    model, an empty folder: each an error that changes nothing."""
    d, exp, ref, images = clip_fixture()
    folder = os.path.join(tmp, "photos")
    os.makedirs(folder)
    shutil.copy(images[0], os.path.join(folder, "a.png"))

    notdb = os.path.join(tmp, "notes.db")
    write(notdb, b"these are my notes, not a database\n" * 100)
    before = open(notdb, "rb").read()
    expect_error(index(folder, notdb, model=d), "is not an mmrun index")
    assert open(notdb, "rb").read() == before
    expect_error(run("-b", "cpu", "search", "--db", notdb, "a cat"), "is not an mmrun index")

    foreign = os.path.join(tmp, "foreign.db")
    c = sqlite3.connect(foreign)
    c.execute("CREATE TABLE t(x)")
    c.execute("INSERT INTO t VALUES (42)")
    c.commit()
    c.close()
    expect_error(index(folder, foreign, model=d), "not an mmrun index")
    c = sqlite3.connect(foreign)
    assert c.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    c.close()

    db = os.path.join(tmp, "index.db")
    assert index(folder, db, model=d).returncode == 0
    rows_before = db_rows(db)
    other = os.path.join(tmp, "other-model")  # same weights, another config: another model id
    os.makedirs(other)
    for name in os.listdir(d):
        if not name.startswith("expected"):
            os.symlink(os.path.join(d, name), os.path.join(other, name))
    os.remove(os.path.join(other, "config.json"))
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    cfg["logit_scale_init_value"] = 1.0
    with open(os.path.join(other, "config.json"), "w") as f:
        json.dump(cfg, f)
    shutil.copy(images[1], os.path.join(folder, "b.png"))
    expect_error(index(folder, db, model=other), "was made with another model")
    expect_error(run("-b", "cpu", "search", "--db", db, "-m", other, "a cat"), "was made with another model")
    assert db_rows(db) == rows_before

    empty = os.path.join(tmp, "empty")
    os.makedirs(os.path.join(empty, "sub"))
    write(os.path.join(empty, "readme.txt"), b"x")
    expect_error(index(empty, db), "no images", "the index is unchanged")
    expect_error(index(os.path.join(tmp, "nope"), db), "nope")
    expect_error(index(os.path.join(folder, "a.png"), db), "is not a folder")
    assert db_rows(db) == rows_before
    expect_error(index(folder, os.path.join(tmp, "new.db")), "a new index needs a model folder", code=2)
    expect_error(run("index", folder), "index needs --db FILE", code=2)
    expect_error(run("-b", "cpu", "search", "--db", os.path.join(tmp, "missing.db"), "a cat"), "missing.db")
    expect_error(run("search", "--db", db), "one query", code=2)
    expect_error(run("search", "--db", db, "a cat", "--image", images[0]), "one query", code=2)


# ---- search ------------------------------------------------------------------------

def case_search_ranking(tmp, backend="cpu"):
    """Text -> image rankings and scores are the fixture's logits_per_text /
    logit_scale, through several blocks (--block 2) or one."""
    d, exp, ref, images = clip_fixture()
    texts = exp["inputs"]["texts"]
    folder, db = os.path.join(tmp, "photos"), os.path.join(tmp, "index.db")
    os.makedirs(folder)
    for src in images:
        shutil.copy(src, os.path.join(folder, os.path.basename(src)))
    assert index(folder, db, model=d).returncode == 0
    real = [os.path.join(os.path.realpath(folder), os.path.basename(s)) for s in images]
    logits = rows(ref, "logits_per_text")
    scale = math.exp(math.log(100.0))  # the fixture's logit_scale is ln(100)
    be = backend_args(backend)
    for t, text in enumerate(texts):
        want = sorted(range(len(images)), key=lambda i: -logits[t][i])
        for block in [[], ["--block", "2"], ["--block", "1"]]:
            p = run(*be, "search", "--db", db, text, "--json", *block)
            assert p.returncode == 0, p.stderr
            out = json.loads(p.stdout)
            assert out["query"] == text and out["kind"] == "text"
            got = [r["path"] for r in out["results"]]
            assert got == [real[i] for i in want], (text, block, got)
            for r, i in zip(out["results"], want):
                assert abs(r["score"] * scale - logits[t][i]) <= 5e-4 + 1e-4 * abs(logits[t][i]), (r, logits[t][i])
    p = run(*be, "search", "--db", db, "a cat", "-k", "2")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 2, p.stdout
    # by image: the image itself first, cosine 1
    p = run(*be, "search", "--db", db, "--image", images[0], "--json")
    out = json.loads(p.stdout)
    assert out["kind"] == "image" and out["results"][0]["path"] == real[0], out
    assert abs(out["results"][0]["score"] - 1) < 1e-5, out


if __name__ == "__main__":
    run_case(globals())
