#!/usr/bin/env python3
"""`mmrun transcribe` tests, one case per invocation (argv[1]), with the
whisper fixture and the recordings in ../shared/data. Shares the helpers of
test_cli.py."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cli import REQUIRE_VULKAN, SHARED, SKIP, expect_error, fixture, run, run_case  # noqa: E402


def data(rel):
    path = os.path.join(SHARED, "data", rel)
    if not os.path.exists(path):
        fixture("whisper-tiny-random")  # the same skip-or-fail rule
        raise AssertionError(f"{path} missing")
    return path


def reference_ids():
    with open(os.path.join(fixture("whisper-tiny-random"), "expected.json")) as f:
        g = json.load(f)["greedy_whisper_generate"]
    return g["new_ids"][: g.get("compare_ids_up_to_step", len(g["new_ids"]))]


GREEDY24 = ["--language", "en", "--no-timestamps", "--no-fallback", "--beam-size", "1", "--max-tokens", "24"]


def check_reference(backend):
    model = fixture("whisper-tiny-random")
    p = run("transcribe", "-m", model, data("whisper.cpp/jfk.wav"), "--json", *GREEDY24, "--backend", backend,
            timeout=600)
    if p.returncode != 0 and backend == "vulkan" and not REQUIRE_VULKAN and "vulkan" in p.stderr.lower():
        print("SKIP: no Vulkan device")
        sys.exit(SKIP)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["language"] == "en"
    assert len(out["segments"]) == 1
    seg = out["segments"][0]
    want = reference_ids()
    assert seg["tokens"][: len(want)] == want, f"{seg['tokens']} != {want}"
    for key in ("start", "end", "text", "avg_logprob", "no_speech_prob", "temperature"):
        assert key in seg, key
    assert seg["temperature"] == 0.0 and seg["start"] == 0.0 and abs(seg["end"] - 11.0) < 1e-6
    assert out["text"] == seg["text"]


def case_reference_cpu(tmp):
    check_reference("cpu")


def case_reference_vulkan(tmp):
    check_reference("vulkan")


def parse_srt(text):
    blocks = [b for b in text.strip("\n").split("\n\n") if b]
    times = []
    for i, b in enumerate(blocks):
        lines = b.split("\n")
        assert lines[0] == str(i + 1), f"block {i}: index {lines[0]!r}"
        m = re.fullmatch(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)", lines[1])
        assert m, f"block {i}: time line {lines[1]!r}"
        v = [int(x) for x in m.groups()]
        times.append(((v[0] * 60 + v[1]) * 60 + v[2] + v[3] / 1000, (v[4] * 60 + v[5]) * 60 + v[6] + v[7] / 1000))
        assert len(lines) >= 3, f"block {i}: no text"
    return times


def parse_vtt(text):
    assert text.startswith("WEBVTT\n\n"), "no WEBVTT header"
    times = []
    for b in [b for b in text[8:].strip("\n").split("\n\n") if b]:
        lines = b.split("\n")
        m = re.fullmatch(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)", lines[0])
        assert m, f"time line {lines[0]!r}"
        v = [int(x) for x in m.groups()]
        times.append(((v[0] * 60 + v[1]) * 60 + v[2] + v[3] / 1000, (v[4] * 60 + v[5]) * 60 + v[6] + v[7] / 1000))
    return times


def write_long(path, seconds):
    """jfk.wav repeated to `seconds`."""
    with wave.open(data("whisper.cpp/jfk.wav")) as w:
        frames = w.readframes(w.getnframes())
        rate = w.getframerate()
    need = seconds * rate * 2
    with wave.open(path, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((frames * (need // len(frames) + 1))[:need])


def case_subtitles(tmp):
    """95 s in windows: SRT and VTT files parse, times increase and never overlap."""
    model = fixture("whisper-tiny-random")
    os.makedirs(tmp)
    audio = os.path.join(tmp, "long talk.wav")
    write_long(audio, 95)
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    p = run("transcribe", "-m", model, audio, "--srt", "--vtt", "--json", "-o", out, "--language", "en",
            "--no-fallback", "--max-tokens", "32", "--backend", "cpu", timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "", "with --output-dir nothing goes to stdout"
    assert "of 95 s" in p.stderr, "no progress line for a long file"
    assert sorted(os.listdir(out)) == ["long talk.json", "long talk.srt", "long talk.vtt"]
    with open(os.path.join(out, "long talk.srt")) as f:
        srt = parse_srt(f.read())
    with open(os.path.join(out, "long talk.vtt")) as f:
        vtt = parse_vtt(f.read())
    with open(os.path.join(out, "long talk.json")) as f:
        js = json.load(f)
    assert len(srt) == len(vtt) == len(js["segments"]) >= 4, (len(srt), len(vtt))
    prev = 0.0
    for (a, b), (c, d) in zip(srt, vtt):
        assert abs(a - c) < 1e-9 and abs(b - d) < 1e-9
        assert prev <= a <= b <= 95.0, (prev, a, b)
        prev = b
    assert srt[-1][0] >= 60.0


def case_silence(tmp):
    model = fixture("whisper-tiny-random")
    os.makedirs(tmp)
    path = os.path.join(tmp, "silence.wav")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000 * 30)
    p = run("transcribe", "-m", model, path, "--json", "--backend", "cpu")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["text"] == "" and out["segments"] == []


def case_bad_inputs(tmp):
    """Each bad file is one error line; the good file among them is still transcribed."""
    model = fixture("whisper-tiny-random")
    os.makedirs(tmp)
    text = os.path.join(tmp, "notes.wav")
    with open(text, "w") as f:
        f.write("this is not audio\n" * 20)
    empty = os.path.join(tmp, "empty.wav")
    open(empty, "w").close()
    truncated = os.path.join(tmp, "truncated.wav")
    with open(data("whisper.cpp/jfk.wav"), "rb") as f:
        head = f.read(30)
    with open(truncated, "wb") as f:
        f.write(head)
    missing = os.path.join(tmp, "missing.wav")
    good = data("whisper.cpp/jfk.wav")
    p = run("transcribe", "-m", model, text, empty, good, truncated, missing, *GREEDY24, "--backend", "cpu")
    assert p.returncode == 1, f"exit {p.returncode}"
    errors = [l for l in p.stderr.splitlines() if l.startswith("mmrun: error: ")]
    for path in (text, empty, truncated, missing):
        assert sum(path in l for l in errors) == 1, f"no one-line error for {path}"
    assert len(errors) == 4, errors
    assert p.stdout.strip(), "the good file was not transcribed"


def case_bad_models(tmp):
    model = fixture("whisper-tiny-random")
    audio = data("whisper.cpp/jfk.wav")
    # no weights
    nw = os.path.join(tmp, "noweights")
    os.makedirs(nw)
    for f in os.listdir(model):
        if not f.endswith(".safetensors") and f not in ("expected.json",):
            shutil.copy(os.path.join(model, f), nw)
    expect_error(run("transcribe", "-m", nw, audio, "--backend", "cpu"), "safetensors")
    # no tokenizer files
    nt = os.path.join(tmp, "notok")
    os.makedirs(nt)
    for f in ("config.json", "model.safetensors", "preprocessor_config.json", "generation_config.json"):
        shutil.copy(os.path.join(model, f), nt)
    expect_error(run("transcribe", "-m", nt, audio, "--backend", "cpu"), "vocab")
    # dims that contradict the weights
    bad = os.path.join(tmp, "baddims")
    shutil.copytree(model, bad)
    with open(os.path.join(bad, "config.json")) as f:
        cfg = json.load(f)
    cfg["decoder_ffn_dim"] = cfg["decoder_ffn_dim"] * 2
    with open(os.path.join(bad, "config.json"), "w") as f:
        json.dump(cfg, f)
    expect_error(run("transcribe", "-m", bad, audio, "--backend", "cpu"), "fc1")
    # an unknown language, a missing model option
    expect_error(run("transcribe", "-m", model, audio, "--language", "klingon", "--backend", "cpu"),
                 "--language: 'klingon' is not a language", code=2)
    expect_error(run("transcribe", audio), "-m", code=2)
    expect_error(run("transcribe", "-m", model, audio, "--beam-size", "0"), "--beam-size", code=2)


def case_stdin(tmp):
    model = fixture("whisper-tiny-random")
    with open(data("whisper.cpp/jfk.wav"), "rb") as f:
        audio = f.read()
    p = subprocess.run([os.environ["MMRUN"], "transcribe", "-m", model, "-", "--json", *GREEDY24, "--backend", "cpu"],
                       input=audio, capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["segments"][0]["tokens"][:24] == reference_ids()


def case_sample_program(tmp):
    """samples/transcribe.c through the public API gives mmrun's segments."""
    model = fixture("whisper-tiny-random")
    audio = data("whisper.cpp/jfk.wav")
    p = subprocess.run([os.environ["SAMPLE_TRANSCRIBE"], model, audio], capture_output=True, text=True, timeout=600)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stderr
    q = run("transcribe", "-m", model, audio, "--json", timeout=600)
    assert q.returncode == 0, q.stderr
    want = "".join(f"[{s['start']:6.2f} -> {s['end']:6.2f}] {s['text']}\n" for s in json.loads(q.stdout)["segments"])
    assert p.stdout == want, (p.stdout, want)


if __name__ == "__main__":
    run_case(globals())
