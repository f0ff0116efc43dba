"""livecat as a new user gets it: a plain ``pip install .`` in a fresh virtual environment,
then the commands run on a terminal.

Every other test runs the checkout from the dev venv, which holds the test extras and whatever
else was installed there, with output piped. So an import that only a terminal reaches (tqdm,
for the progress bar of ``build`` and ``render``) and that only the dev venv provided was never
caught: the first ``livecat build`` of a user after ``pip install .`` crashed with
``ModuleNotFoundError: No module named 'tqdm'``. Here the installed console script runs under a
pseudo-terminal, from a folder where the checkout cannot be imported by accident."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import av
import mediagen
import pytest
from livehelpers import NO_SERVER_ENV

CHECKOUT = Path(__file__).resolve().parents[1]
SR = 48000
TARGET_S = 2.0
COLUMNS, LINES = 100, 30
# What pip says when it cannot reach the package index: this test then cannot run here.
NO_NETWORK = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ProxyError",
)
# Modules livecat imports only for an extra: installed by `pip install 'livecat[EXTRA]'`,
# module -> distribution.
EXTRAS_MODULES = {
    "mido": "mido",
    "rtmidi": "python-rtmidi",
    "pyvirtualcam": "pyvirtualcam",
    "rtmixer": "rtmixer",
}


@dataclasses.dataclass(frozen=True)
class FreshVenv:
    root: Path
    python: Path
    livecat: Path
    env: dict[str, str]  # a new user's terminal: the venv activated, nothing of the dev venv
    workdir: Path  # an empty folder to run from, far from the checkout


@dataclasses.dataclass(frozen=True)
class TerminalRun:
    returncode: int
    transcript: str  # all the terminal showed, stdout and stderr together

    def tail(self, chars: int = 2000) -> str:
        head = f"\n--- exit {self.returncode}; terminal (last {chars} chars) ---\n"
        return head + self.transcript[-chars:]


def base_python() -> Path:
    """The interpreter the dev venv was made from: a venv made with the dev venv's own python
    would still be a fresh venv, but this is what a user types."""
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).is_file():
        return Path(base)
    major, minor = sys.version_info[:2]
    return Path(sys.base_prefix) / "bin" / f"python{major}.{minor}"


def clean_env() -> dict[str, str]:
    """This process's environment without what would let the dev venv or the checkout in
    (PYTHONPATH points at the checkout when the tests run from a worktree)."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"
    }


def run_quietly(
    argv: list[str | Path], *, cwd: Path, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """``argv`` with its output captured, in :func:`clean_env`."""
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def run_on_terminal(
    argv: list[str | Path], *, env: dict[str, str], cwd: Path, timeout_s: float = 120
) -> TerminalRun:
    """Run ``argv`` with stdin, stdout and stderr on a new pseudo-terminal (its controlling
    terminal, COLUMNS x LINES), reading everything it shows until it exits."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))

    def take_terminal() -> None:  # in the child, after setsid(): the pty becomes its terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    try:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=take_terminal,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                break
            ready, _, _ = select.select([master], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError as e:  # EIO: every end of the terminal is closed
                if e.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
        returncode = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    transcript = b"".join(chunks).decode("utf-8", "replace")
    if timed_out:
        transcript += f"\n[killed after {timeout_s:.0f} s]"
    return TerminalRun(returncode, transcript)


def progress_bar_lines(transcript: str) -> list[str]:
    """The states of a tqdm bar the terminal showed (each redraw starts with a carriage
    return)."""
    return [part for part in transcript.replace("\n", "\r").split("\r") if "%|" in part]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Iterator[FreshVenv]:
    """A new virtual environment with ``pip install CHECKOUT`` (no extras, not editable), as
    the README tells users; pip's usual cache. Removed afterwards: it weighs some 650 MB."""
    root = tmp_path_factory.mktemp("fresh-venv")
    workdir = tmp_path_factory.mktemp("user")
    venv = root / "venv"
    made = run_quietly([base_python(), "-m", "venv", venv], cwd=workdir)
    assert made.returncode == 0, made.stdout + made.stderr
    python = venv / "bin" / "python"
    installed = run_quietly([python, "-m", "pip", "install", CHECKOUT], cwd=workdir, timeout_s=1200)
    pip_says = installed.stdout + installed.stderr
    if installed.returncode != 0 and any(marker in pip_says for marker in NO_NETWORK):
        shutil.rmtree(venv, ignore_errors=True)
        pytest.skip(f"pip cannot reach the package index: {pip_says.strip()[-500:]}")
    assert installed.returncode == 0, f"pip install {CHECKOUT} failed:\n{pip_says[-3000:]}"

    checked = run_quietly([python, "-m", "pip", "check"], cwd=workdir)
    assert checked.returncode == 0, f"pip check:\n{checked.stdout}{checked.stderr}"

    env = {
        **NO_SERVER_ENV,  # no sound server to find: livecat sees no audio devices
        "PATH": f"{venv / 'bin'}:{NO_SERVER_ENV['PATH']}",
        "VIRTUAL_ENV": str(venv),
        "HOME": str(tmp_path_factory.mktemp("home")),
        "TERM": "xterm",
        "COLUMNS": str(COLUMNS),
        "LINES": str(LINES),
        "LANG": "C.UTF-8",
    }
    yield FreshVenv(venv, python, venv / "bin" / "livecat", env, workdir)
    shutil.rmtree(venv, ignore_errors=True)


@pytest.fixture(scope="module")
def media(fresh_venv: FreshVenv) -> dict[str, Path]:
    """Two short videos of varied notes and a target sound, in the user's folder."""
    d = fresh_venv.workdir / "media"
    d.mkdir()
    for name, seed in (("a.mp4", 1), ("b.mp4", 2)):
        sound = mediagen.varied_notes(3.0, seed=seed, sr_hz=SR)
        mediagen.write_video(d / name, fps=25, size=(160, 120), duration_s=3.0, audio=sound)
    mediagen.write_audio(d / "target.wav", mediagen.varied_notes(TARGET_S, seed=9), sr_hz=SR)
    return {"a": d / "a.mp4", "b": d / "b.mp4", "target": d / "target.wav"}


@pytest.fixture(scope="module")
def corpus(media: dict[str, Path], tmp_path_factory) -> Path:
    """The same videos built by the checkout, so that ``info``, ``render`` and ``live`` are
    tested on their own, whatever becomes of the installed ``build``."""
    from livecat.corpus import build_corpus

    path = tmp_path_factory.mktemp("corpus") / "corpus"
    build_corpus([media["a"], media["b"]], path)
    return path


def test_the_installed_livecat_is_the_one_in_the_fresh_venv(fresh_venv: FreshVenv) -> None:
    """Run from the checkout, ``import livecat`` would find the source tree and hide what the
    installed package lacks."""
    found = run_quietly(
        [
            fresh_venv.python,
            "-c",
            "import livecat, sys, sysconfig; print(livecat.__file__); "
            "print(sysconfig.get_paths()['purelib']); print(sys.prefix)",
        ],
        cwd=fresh_venv.workdir,
    )
    assert found.returncode == 0, found.stderr
    module, purelib, prefix = (Path(line).resolve() for line in found.stdout.splitlines())
    assert module.is_relative_to(purelib), (module, purelib)
    assert prefix == fresh_venv.root.resolve()
    assert not module.is_relative_to(CHECKOUT)
    assert fresh_venv.livecat.is_file()


def test_every_module_livecat_imports_is_installed_or_belongs_to_an_extra(
    fresh_venv: FreshVenv,
) -> None:
    """The terminal runs below reach only some code paths: every ``import`` in the installed
    package, wherever it sits, must name the standard library, livecat, a declared dependency,
    or a module of an extra that the package declares."""
    find = run_quietly(
        [
            fresh_venv.python,
            "-c",
            "import json, livecat, sys; print(json.dumps({"
            "'package': livecat.__path__[0], 'stdlib': sorted(sys.stdlib_module_names)}))",
        ],
        cwd=fresh_venv.workdir,
    )
    assert find.returncode == 0, find.stderr
    found = json.loads(find.stdout)
    stdlib = set(found["stdlib"])
    imported: dict[str, str] = {}  # top-level module -> first file importing it
    for source in sorted(Path(found["package"]).rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in stdlib and top not in ("livecat", "__future__"):
                    imported.setdefault(top, str(source))
    probe = run_quietly(
        [
            fresh_venv.python,
            "-c",
            "import importlib.util, sys; "
            "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))",
            *sorted(imported),
        ],
        cwd=fresh_venv.workdir,
    )
    assert probe.returncode == 0, probe.stderr
    missing = set(probe.stdout.split())
    undeclared = {m: imported[m] for m in missing if m not in EXTRAS_MODULES}
    assert not undeclared, f"imported but not installed by `pip install .`: {undeclared}"

    metadata = run_quietly(
        [
            fresh_venv.python,
            "-c",
            "import importlib.metadata as m; print('\\n'.join(m.requires('livecat') or []))",
        ],
        cwd=fresh_venv.workdir,
    )
    assert metadata.returncode == 0, metadata.stderr
    requires = metadata.stdout.splitlines()
    for module in sorted(missing):
        dist = EXTRAS_MODULES[module]
        declared = [
            r for r in requires if re.match(rf"{re.escape(dist)}\b", r, re.I) and "extra ==" in r
        ]
        assert declared, f"{module} ({dist}) is no extra of livecat: {requires}"


def test_build_on_a_terminal_draws_a_progress_bar_and_makes_a_corpus(
    fresh_venv: FreshVenv, media: dict[str, Path]
) -> None:
    out = fresh_venv.workdir / "built"
    run = run_on_terminal(
        [fresh_venv.livecat, "build", media["a"], media["b"], "-o", out],
        env=fresh_venv.env,
        cwd=fresh_venv.workdir,
    )
    assert run.returncode == 0, run.tail()
    assert "Traceback" not in run.transcript, run.tail()
    bars = progress_bar_lines(run.transcript)
    assert any(" entries" in bar for bar in bars), run.tail()
    assert any("100%|" in bar for bar in bars), run.tail()
    assert all(len(bar.rstrip()) <= COLUMNS for bar in bars), run.tail()

    from livecat.corpus import Corpus

    built = Corpus.open(out)
    assert len(built) == 2 * 75  # 3 s at 25 images/s, twice
    assert {Path(s.path).name for s in built.sources} == {"a.mp4", "b.mp4"}


def test_info_on_a_terminal_gives_the_entry_count(fresh_venv: FreshVenv, corpus: Path) -> None:
    run = run_on_terminal(
        [fresh_venv.livecat, "info", corpus], env=fresh_venv.env, cwd=fresh_venv.workdir
    )
    assert run.returncode == 0, run.tail()
    assert "150 entries from 2 file(s)" in run.transcript, run.tail()


def test_render_on_a_terminal_draws_a_progress_bar_and_writes_the_mosaic(
    fresh_venv: FreshVenv, corpus: Path, media: dict[str, Path]
) -> None:
    out = fresh_venv.workdir / "out.mp4"
    run = run_on_terminal(
        [fresh_venv.livecat, "render", corpus, media["target"], "-o", out],
        env=fresh_venv.env,
        cwd=fresh_venv.workdir,
    )
    assert run.returncode == 0, run.tail()
    assert "Traceback" not in run.transcript, run.tail()
    bars = progress_bar_lines(run.transcript)
    assert any(f"{TARGET_S:.1f}/{TARGET_S:.1f} s" in bar for bar in bars), run.tail()
    assert out.is_file(), run.tail()
    with av.open(str(out)) as f:
        rate = float(f.streams.video[0].average_rate)
        pictures = sum(1 for _ in f.decode(video=0))
    with av.open(str(out)) as f:
        samples = sum(frame.samples for frame in f.decode(audio=0))
        sample_rate = f.streams.audio[0].rate
    assert pictures / rate == pytest.approx(TARGET_S, abs=0.2)
    assert samples / sample_rate == pytest.approx(TARGET_S, abs=0.2)


def test_live_on_a_terminal_plays_an_input_file_and_stops_at_its_end(
    fresh_venv: FreshVenv, corpus: Path, media: dict[str, Path]
) -> None:
    """No sound card here: it runs without sound, in real time, and ends by itself."""
    started = time.monotonic()
    run = run_on_terminal(
        [fresh_venv.livecat, "live", corpus, "--input-file", media["target"], "--headless"],
        env=fresh_venv.env,
        cwd=fresh_venv.workdir,
        timeout_s=90,
    )
    assert run.returncode == 0, run.tail()
    assert "Traceback" not in run.transcript, run.tail()
    assert "entry" in run.transcript, run.tail()  # --headless prints each picture change
    assert "livecat: stopped after" in run.transcript, run.tail()
    assert time.monotonic() - started >= TARGET_S, run.tail()  # played in real time
