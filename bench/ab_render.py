"""Render speed, this tree against another revision, in alternation: for speed claims on a
shared, noisy machine.

Two warm worker processes, one per tree, take turns rendering the speed benchmark's 20 s
target at 640x360 (ABBA order), so a noisy spell on the machine falls on both sides instead of
deciding the comparison; whole benchmark runs minutes apart cannot tell a 5 % change from the
VM's moods. Prints each side's median and best speed, median CPU-seconds per render, and in
how many pairs this tree was faster.

    python bench/ab_render.py --base b5e22ec --pairs 20

The other revision is checked out in a temporary git worktree and imported from there with
this tree's virtual environment. Needs the render benchmark's footage and corpus
(``python bench/run.py --only render`` makes them once).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE.parent / ".bench-work"


def worker(tree: str) -> None:
    """Render on each line read from stdin; print speed and CPU-seconds."""
    sys.path[:0] = [tree]
    from livecat.corpus import Corpus
    from livecat.render import render

    corpus = Corpus.open(WORK / "footage-corpus")
    target = WORK / "footage" / "footage1.wav"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "render.mp4"
        render(corpus, target, out, size=(640, 360))  # warm-up
        print("ready", flush=True)
        for _ in sys.stdin:
            before = resource.getrusage(resource.RUSAGE_SELF)
            report = render(corpus, target, out, size=(640, 360))
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            print(f"{report.speed:.4f} {cpu:.4f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="revision to compare against")
    parser.add_argument("--pairs", type=int, default=20, help="renders per side (20)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return 0
    if not (WORK / "footage-corpus" / "manifest.json").exists():
        sys.exit("ab_render: no benchmark corpus: run `python bench/run.py --only render` once")
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(HERE.parent), "worktree", "add", "-q", "--detach", str(base_tree),
             args.base],
            check=True,
        )  # fmt: skip
        try:
            trees = {"base": str(base_tree), "this": str(HERE.parent)}
            procs = {
                side: subprocess.Popen(
                    [sys.executable, __file__, "--base", args.base, "--worker", tree],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for side, tree in trees.items()
            }
            for proc in procs.values():
                if proc.stdout.readline().strip() != "ready":
                    sys.exit("ab_render: a worker failed to start")
            results: dict[str, list[tuple[float, float]]] = {side: [] for side in procs}
            for i in range(args.pairs):
                for side in ("base", "this") if i % 2 == 0 else ("this", "base"):
                    proc = procs[side]
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                    speed, cpu = map(float, proc.stdout.readline().split())
                    results[side].append((speed, cpu))
            for proc in procs.values():
                proc.stdin.close()
                proc.wait()
        finally:
            subprocess.run(
                ["git", "-C", str(HERE.parent), "worktree", "remove", "--force", str(base_tree)],
                check=False,
            )
    for side, label in (("base", f"base {args.base}"), ("this", "this tree")):
        speeds = [s for s, _ in results[side]]
        cpus = [c for _, c in results[side]]
        print(
            f"{label}: median {statistics.median(speeds):.2f}x, best {max(speeds):.2f}x real "
            f"time; median {statistics.median(cpus):.3f} CPU-s per render"
        )
    wins = sum(t[0] > b[0] for b, t in zip(results["base"], results["this"], strict=True))
    print(f"this tree faster in {wins} of {args.pairs} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
