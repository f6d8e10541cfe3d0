#!/usr/bin/env python3
"""mmrun command-line tests: one case per invocation (argv[1]).

Bad input must end with a clear "mmrun: error: ..." line and a non-zero exit,
never a crash (a signal) or a hang. Exit 77 means skipped (meson's code)."""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

MMRUN = os.environ["MMRUN"]
SHARED = os.environ.get("MM_SHARED_DIR") or os.environ["MM_TEST_SHARED_DIR"]
REQUIRE_FIXTURES = os.environ.get("MM_REQUIRE_FIXTURES") == "1"
REQUIRE_VULKAN = os.environ.get("MM_REQUIRE_VULKAN") == "1"
SKIP = 77


def run(*args, timeout=120):
    p = subprocess.run([MMRUN, *args], capture_output=True, text=True, timeout=timeout)
    print(f"$ mmrun {' '.join(args)}\n-> exit {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def expect_error(p, *needles, code=1):
    assert p.returncode == code, f"exit {p.returncode}, expected {code}"
    if code == 2:  # a usage error is one line, and nothing on stdout
        assert len(p.stderr.splitlines()) == 1 and p.stdout == "", "usage error is not one line"
    last = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
    assert any(l.startswith("mmrun: error: ") for l in p.stderr.splitlines()), "no 'mmrun: error:' line"
    for n in needles:
        assert n in p.stderr, f"stderr lacks {n!r}"
    assert "error" in last


def fixture(name):
    path = os.path.join(SHARED, "fixtures", name)
    if not os.path.isdir(path):
        if REQUIRE_FIXTURES:
            raise AssertionError(f"fixture {path} missing (MM_REQUIRE_FIXTURES=1)")
        print(f"SKIP: fixture {path} missing")
        sys.exit(SKIP)
    return path


def write_safetensors(path, tensors, header_override=None, truncate=0):
    """tensors: {name: (dtype, shape, bytes)}; writes a valid file unless told."""
    header, blob = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if header_override:
        header_override(header)
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + blob[: len(blob) - truncate])


def model_dir(tmp, config, **kw):
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config, f)
    four = struct.pack("<4f", 1, 2, 3, 4)
    write_safetensors(os.path.join(tmp, "model.safetensors"), {"a.weight": ("F32", [2, 2], four)}, **kw)
    return tmp


# ---- cases ----------------------------------------------------------------

def case_help(tmp):
    p = run("--help")
    assert p.returncode == 0 and "info" in p.stdout and "--backend" in p.stdout
    for opt in ["--threads N", "--device N", "--vk-kernels auto|gpu", "--vk-memory auto|staging",
                "--vk-subgroups auto|off", "MM_VK_GPU_KERNELS=1", "MM_VK_FORCE_STAGING=1", "MM_VK_NO_SUBGROUP=1"]:
        assert opt in p.stdout, opt
    assert run("help").stdout == p.stdout  # `mmrun help` alone is the general help
    p = run()  # no command: the help, on stderr, as a usage error
    assert p.returncode == 2 and p.stderr.startswith("usage: mmrun") and p.stdout == ""


def listed_commands():
    """The commands `mmrun --help` lists: (name, one-line help)."""
    out = run("--help").stdout
    section = out.split("commands (mmrun help COMMAND", 1)[1].split("\n\n", 1)[0]
    return [tuple(l.split(None, 1)) for l in section.splitlines()[1:]]


def case_help_commands(tmp):
    """Every command has a usage, the same through `mmrun help C` and
    `mmrun C --help`, naming its arguments and its own options."""
    cmds = dict(listed_commands())
    assert sorted(cmds) == ["bench", "caption", "classify", "embed", "help", "index", "info", "search",
                            "transcribe"], cmds
    usages = {"info": "usage: mmrun info [MODEL_DIR]\n",
              "bench": "usage: mmrun bench MODEL_DIR [--runs N] [--batch B]\n",
              "embed": "usage: mmrun embed -m DIR [--image FILE]... [--text TEXT]... [--json | --npy FILE] [--raw]\n",
              "classify": "usage: mmrun classify -m DIR IMAGE... (--labels L1,L2,.. | --labels-file FILE) "
                          "[--top N] [--json]\n",
              "index": "usage: mmrun index FOLDER --db FILE [-m DIR] [--batch B]\n",
              "search": "usage: mmrun search --db FILE (TEXT | --image FILE) [-k N] [--json]\n",
              "transcribe": "usage: mmrun transcribe -m MODEL_DIR FILE... [options]\n",
              "caption": "usage: mmrun caption -m MODEL_DIR IMAGE... [options]\n",
              "help": "usage: mmrun help [COMMAND]\n"}
    for name in cmds:
        p = run("help", name)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        assert p.stdout.startswith(usages.get(name, f"usage: mmrun {name} ")), p.stdout
        for other in [("help", name, "-t", "3"), (name, "--help"), ("--help", name), (name, "-h")]:
            q = run(*other)
            assert q.returncode == 0 and q.stdout == p.stdout, other
    bench = run("help", "bench").stdout
    assert re.search(r"^  -n, --runs N +timed runs .*\[1\.\.100\]$", bench, re.M), bench
    assert re.search(r"^      --batch B +items per run .*\[1\.\.64\]$", bench, re.M), bench
    assert "options:" not in run("help", "info").stdout  # info has no options of its own
    expect_error(run("help", "frobnicate"), "unknown command 'frobnicate'", code=2)


def case_version(tmp):
    p = run("--version")
    assert p.returncode == 0 and p.stdout.startswith("mmrun ")


def case_blas_kernels(tmp):
    """mmrun restarts itself so that OpenBLAS runs the widest kernels the CPU
    has; forced onto SSE3 kernels it says what would be faster."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    p = subprocess.run([MMRUN, "info"], capture_output=True, text=True, timeout=120, env=env)
    print(p.stdout, p.stderr)
    assert p.returncode == 0
    line = next(l for l in p.stdout.splitlines() if l.strip().startswith("cpu:"))
    assert "OpenBLAS " in line and "would be faster" not in line, line
    flags = open("/proc/cpuinfo").read().split()
    if "avx" not in flags:
        print("SKIP: CPU without AVX: no narrower OpenBLAS kernels to force")
        sys.exit(SKIP)
    p = subprocess.run([MMRUN, "info"], capture_output=True, text=True, timeout=120,
                       env={**env, "OPENBLAS_CORETYPE": "Prescott"})
    print(p.stdout, p.stderr)
    line = next(l for l in p.stdout.splitlines() if l.strip().startswith("cpu:"))
    assert p.returncode == 0 and "OpenBLAS Prescott kernels" in line, line
    want = "SkylakeX" if "avx512f" in flags and "avx512bw" in flags else "Haswell" if "avx2" in flags else "Sandybridge"
    assert f"OPENBLAS_CORETYPE={want} would be faster" in line, line


def case_info(tmp):
    p = run("info")
    assert p.returncode == 0, p.stderr
    for plugin, types in [("vit", ["vit (encoder)"]), ("audio", ["whisper (encoder)"]),
                          ("clip", ["clip (embedder)"]), ("textdec", ["whisper (decoder)", "gpt2 (decoder)"])]:
        line = next((l for l in p.stdout.splitlines() if l.strip().startswith(plugin + " ")), None)
        assert line, f"plugin {plugin} not listed"
        assert "mmplugin_" + plugin + ".so" in line
        following = p.stdout.split(line, 1)[1].splitlines()[1]
        for t in types:
            assert t in following, f"{plugin}: {t} not in {following!r}"
    assert "BROKEN" not in p.stdout
    if "llvmpipe" not in p.stdout and "[0]" not in p.stdout:
        if REQUIRE_VULKAN:
            raise AssertionError("no Vulkan device listed (MM_REQUIRE_VULKAN=1)")
        print("note: no Vulkan device on this machine")


def _declared_roles(info_stdout):
    """{(plugin, model_type): roles} from the plugin list of `mmrun info`."""
    declared, lines = {}, info_stdout.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  (\S+) +\S*mmplugin_\S+\.so$", line)
        if m and i + 1 < len(lines):
            for t, roles in re.findall(r"(\S+) \(([a-z+]+)\)", lines[i + 1]):
                declared[(m.group(1), t)] = roles.split("+")
    return declared


def _info_parts(path):
    """Runs `mmrun info MODEL_DIR`; checks that every part it names a plugin
    for is a role that plugin declares (and so implements: the runtime
    refuses a plugin claiming a role without its ops table). Returns stdout."""
    p = run("--backend", "cpu", "info", path)
    assert p.returncode == 0, p.stderr
    declared = _declared_roles(p.stdout)
    assert ("audio", "whisper") in declared, declared
    for role, plugin, rest in re.findall(r"^  (encoder|decoder|embedder): plugin (\S+?),? (.*)$", p.stdout, re.M):
        mtype = re.search(r"\((\S+)\)", rest)
        mtype = mtype.group(1) if mtype else None
        claims = [k for k, roles in declared.items() if k[0] == plugin and role in roles]
        assert claims and (mtype is None or (plugin, mtype) in claims), f"{role}: plugin {plugin} {rest}: {declared}"
    return p.stdout


def case_info_model(tmp):
    out = _info_parts(fixture("whisper-tiny-random"))
    assert "model_type: whisper" in out
    assert "encoder: plugin audio, input {3000,80,1}" in out
    # two plugins serve whisper, each in its own role
    assert "decoder: plugin textdec" in out, out
    out = _info_parts(fixture("vit-gpt2-tiny-random"))
    assert "encoder: plugin vit, input {224,224,3,1}" in out
    assert "decoder: plugin textdec (gpt2)" in out, out
    out = _info_parts(fixture("clip-tiny-random"))
    assert "embedder: plugin clip (clip)" in out and "encoder:" not in out, out
    # a decoder no plugin runs is named, not silently left out
    src = fixture("vit-gpt2-tiny-random")
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg["decoder"]["model_type"] = "bert"
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(cfg, f)
    os.symlink(os.path.join(src, "model.safetensors"), os.path.join(tmp, "model.safetensors"))
    out = _info_parts(tmp)
    assert "encoder: plugin vit" in out
    assert "decoder: no plugin (no plugin runs model_type 'bert' as decoder" in out, out


def case_bench(tmp):
    """mmrun bench times a model's encoder: a figure per run, clear errors."""
    for backend, model, extra in [("cpu", "whisper-tiny-random", []),
                                  ("vulkan", "vit-gpt2-tiny-random", ["--batch", "2"])]:
        p = run("--backend", backend, "bench", fixture(model), "--runs", "2", *extra)
        if backend == "vulkan" and p.returncode != 0 and not REQUIRE_VULKAN:
            print("SKIP part: no Vulkan device")
            continue
        assert p.returncode == 0, p.stderr
        m = re.search(r"median ([0-9.]+) ms of 2 runs", p.stdout)
        assert m and float(m.group(1)) > 0, p.stdout
        assert f"backend {backend}" in p.stdout
        assert ("batch 2" in p.stdout) == bool(extra)
    expect_error(run("bench"), "model folder", code=2)
    expect_error(run("bench", fixture("whisper-tiny-random"), "--runs", "0"), "--runs", code=2)
    expect_error(run("--backend", "cpu", "bench", os.path.join(tmp, "nope")), "config.json")
    expect_error(run("--backend", "cpu", "bench", fixture("clip-tiny-random")), "no plugin runs model_type 'clip'")


def case_missing_dir(tmp):
    expect_error(run("--backend", "cpu", "info", os.path.join(tmp, "nope")), "config.json")


def case_no_weights(tmp):
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump({"model_type": "vit"}, f)
    expect_error(run("--backend", "cpu", "info", tmp), "model.safetensors")


def case_bad_json(tmp):
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        f.write('{"model_type": "vit", ')
    expect_error(run("--backend", "cpu", "info", tmp), "config.json")


def case_truncated_safetensors(tmp):
    model_dir(tmp, {"model_type": "vit"}, truncate=3)
    expect_error(run("--backend", "cpu", "info", tmp), "a.weight")


def case_lying_offsets(tmp):
    def lie(h):
        h["a.weight"]["data_offsets"] = [0, 1 << 40]
    model_dir(tmp, {"model_type": "vit"}, header_override=lie)
    expect_error(run("--backend", "cpu", "info", tmp), "a.weight")


def case_huge_shape(tmp):
    def lie(h):
        h["a.weight"]["shape"] = [1 << 31, 1 << 31, 1 << 31]
    model_dir(tmp, {"model_type": "vit"}, header_override=lie)
    expect_error(run("--backend", "cpu", "info", tmp), "a.weight")


def case_unknown_model_type(tmp):
    model_dir(tmp, {"model_type": "mamba"})
    expect_error(run("--backend", "cpu", "info", tmp), "'mamba'", "audio", "vit")


def _whisper_with(tmp, **changes):
    src = fixture("whisper-tiny-random")
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    cfg.update(changes)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(cfg, f)
    os.symlink(os.path.join(src, "model.safetensors"), os.path.join(tmp, "model.safetensors"))
    return tmp


def case_config_wrong_width(tmp):
    # config says d_model 96 but the weights are 64 wide
    expect_error(run("--backend", "cpu", "info", _whisper_with(tmp, d_model=96)), "model.encoder.")


def case_config_bad_heads(tmp):
    expect_error(run("--backend", "cpu", "info", _whisper_with(tmp, encoder_attention_heads=5)), "head")


def case_config_missing_layer(tmp):
    expect_error(run("--backend", "cpu", "info", _whisper_with(tmp, encoder_layers=3)), "layers.2")


def case_usage_errors(tmp):
    """Each is exactly one line (expect_error) with exit code 2."""
    cases = [
        (["frobnicate"], "mmrun: error: unknown command 'frobnicate'; see mmrun --help"),
        (["--bogus"], "mmrun: error: unknown option '--bogus'; see mmrun --help"),
        (["--bogus", "info"], "mmrun: error: unknown option '--bogus'; see mmrun help info"),
        (["info", "--bogus"], "mmrun: error: unknown option '--bogus'; see mmrun help info"),
        (["info", "--runs", "2"], "mmrun: error: unknown option '--runs'; see mmrun help info"),
        (["--threads", "0", "info"], "mmrun: error: --threads: 0 is out of range 1..1024; see mmrun help info"),
        (["info", "-t", "1025"], "mmrun: error: --threads: 1025 is out of range 1..1024; see mmrun help info"),
        (["info", "--threads=2x"], "mmrun: error: --threads: '2x' is not an integer; see mmrun help info"),
        (["info", "--threads", "99999999999999999999"],
         "mmrun: error: --threads: 99999999999999999999 is out of range 1..1024; see mmrun help info"),
        (["--backend", "tpu", "info"],
         "mmrun: error: --backend: 'tpu' is not one of auto, vulkan, cpu; see mmrun help info"),
        (["info", "--vk-memory", "host"],
         "mmrun: error: --vk-memory: 'host' is not one of auto, staging; see mmrun help info"),
        (["info", "--threads"], "mmrun: error: --threads needs a value; see mmrun help info"),
        (["info", "--verbose=1"], "mmrun: error: --verbose takes no value; see mmrun help info"),
        (["info", "a", "b"], "mmrun: error: info: unexpected argument 'b'; see mmrun help info"),
        (["bench"], "mmrun: error: bench needs a model folder; see mmrun help bench"),
        (["bench", "DIR", "--runs", "0"], "mmrun: error: --runs: 0 is out of range 1..100; see mmrun help bench"),
        (["--batch", "65", "bench", "DIR"], "mmrun: error: --batch: 65 is out of range 1..64; see mmrun help bench"),
    ]
    for args, want in cases:
        p = run(*args)
        expect_error(p, code=2)
        assert p.stderr == want + "\n", f"{p.stderr!r} != {want!r}"


def case_options_anywhere(tmp):
    """Options go before the command, after it, or between its arguments,
    in any spelling, with the same effect."""
    d = fixture("whisper-tiny-random")
    outs = []
    for args in [("bench", d, "--backend", "cpu", "--threads", "2", "--runs", "1"),
                 ("--backend", "cpu", "--threads", "2", "bench", d, "--runs", "1"),
                 ("--runs=1", "-b", "cpu", "bench", "-t2", d),
                 ("-bcpu", "bench", "--threads=2", "-n", "1", "--", d)]:
        p = run(*args)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        model = next(l for l in lines if l.startswith("model "))
        backend = next(l for l in lines if l.startswith("backend "))
        assert backend == "backend cpu (2 threads)", backend
        assert model == f"model {d} (whisper encoder, plugin audio)", model
        assert re.search(r"median [0-9.]+ ms of 1 runs", p.stdout), p.stdout
        outs.append((model, backend))
    assert len(set(outs)) == 1, outs


def case_vk_options(tmp):
    """--vk-* set the Vulkan backend's parameters; the MM_VK_* variables
    override them (what the tests' vulkan-gpu variants use)."""
    def vk_log(*args, env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("MM_VK_")}
        p = subprocess.run([MMRUN, "-v", "--backend", "vulkan", *args, "info"], capture_output=True, text=True,
                           timeout=120, env={**e, **(env or {})})
        print(p.stderr)
        if p.returncode != 0:
            if REQUIRE_VULKAN:
                raise AssertionError("--backend vulkan failed (MM_REQUIRE_VULKAN=1)")
            print("SKIP: no Vulkan device")
            sys.exit(SKIP)
        dev = next(l for l in p.stderr.splitlines() if "memory, subgroup" in l)
        kernels = next(l for l in p.stderr.splitlines() if l.endswith(" kernels") and "vulkan:" in l)
        return dev, kernels
    dev, kernels = vk_log()
    cpu_driver = "CPU-driver" in kernels
    arith = "(arithmetic)" in dev
    dev, kernels = vk_log("--vk-memory", "staging", "--vk-subgroups", "off", "--vk-kernels", "gpu")
    assert "staged memory" in dev and "(arithmetic)" not in dev, dev
    assert kernels.endswith("vulkan: GPU kernels"), kernels
    dev, kernels = vk_log(env={"MM_VK_FORCE_STAGING": "1", "MM_VK_NO_SUBGROUP": "1", "MM_VK_GPU_KERNELS": "1"})
    assert "staged memory" in dev and "(arithmetic)" not in dev, dev
    assert kernels.endswith("vulkan: GPU kernels"), kernels
    # "0" and unset leave the device's own choice
    dev, kernels = vk_log("--vk-kernels", "auto", env={"MM_VK_NO_SUBGROUP": "0", "MM_VK_GPU_KERNELS": "0"})
    assert ("(arithmetic)" in dev) == arith and ("CPU-driver" in kernels) == cpu_driver, (dev, kernels)


def case_auto_backend(tmp):
    """--backend auto takes a Vulkan GPU, but not a CPU driver (lavapipe),
    which the CPU backend outruns; naming a device still gets it."""
    p = run("info")
    assert p.returncode == 0, p.stderr
    devices = re.findall(r"^    \[(\d+)\] .* \((discrete|integrated|virtual|other|cpu), Vulkan", p.stdout, re.M)
    selected = next(l for l in p.stdout.splitlines() if l.strip().startswith("selected:"))
    if any(kind != "cpu" for _, kind in devices):
        assert "selected: vulkan" in selected, selected
        return
    assert "selected: cpu" in selected, selected
    if not devices:
        if REQUIRE_VULKAN:
            raise AssertionError("no Vulkan device listed (MM_REQUIRE_VULKAN=1)")
        print("SKIP: no Vulkan device to name")
        sys.exit(SKIP)
    assert "runs on the CPU, slower than the CPU backend" in p.stderr, p.stderr
    p = run("--device", devices[0][0], "info")
    assert p.returncode == 0 and "selected: vulkan" in p.stdout, p.stdout


def case_vulkan_backend(tmp):
    p = run("--backend", "vulkan", "info")
    if p.returncode != 0:
        if REQUIRE_VULKAN:
            raise AssertionError("--backend vulkan failed (MM_REQUIRE_VULKAN=1)")
        print("SKIP: no Vulkan device")
        sys.exit(SKIP)
    assert "selected: vulkan" in p.stdout


def run_case(cases):
    """Runs case_<argv[1]>(tmp, *argv[2:]) from the dict `cases` (a test
    file's globals()) in a fresh temporary folder: exit 1 with the reason on
    a failed assertion or a hang, "ok" otherwise."""
    case = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="mmrun-cli-")
    try:
        cases["case_" + case](os.path.join(tmp, "m"), *sys.argv[2:])
    except subprocess.TimeoutExpired as e:
        print(f"FAIL: hang: {e}")
        sys.exit(1)
    except AssertionError as e:
        print(f"FAIL: {e}")
        sys.exit(1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    run_case(globals())
