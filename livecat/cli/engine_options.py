"""Selection options shared by ``render`` and ``live`` (one engine, one set of flags)."""

from __future__ import annotations

import argparse

from livecat.synthesis import EngineSettings
from livecat.synthesis.engine import GATE_MODES, LEVEL_MODES


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    d = EngineSettings()
    g = parser.add_argument_group('selection (README: "Selection knobs")')
    g.add_argument("--k", type=int, default=d.k, help="candidates per decision (%(default)s)")
    g.add_argument(
        "--continuity",
        type=float,
        default=d.continuity,
        metavar="0..1",
        help="preference for letting the current footage run on (%(default)s)",
    )
    g.add_argument(
        "--no-repeat",
        type=float,
        default=d.no_repeat_s,
        metavar="SECONDS",
        help="an entry jumped to is not jumped to again for this long (%(default)s)",
    )
    g.add_argument(
        "--level",
        choices=LEVEL_MODES,
        default=d.level_mode,
        help="compensate: grains follow the input's loudness; match: prefer "
        "entries as loud as the input; ignore (default %(default)s)",
    )
    g.add_argument(
        "--gate",
        type=float,
        default=d.gate_db,
        metavar="DB",
        help="input level (dBFS) below which nothing is searched (%(default)s)",
    )
    g.add_argument(
        "--gate-mode",
        choices=GATE_MODES,
        default=d.gate_mode,
        help="under the gate: hold the image, fade it out, or show the idle entry",
    )
    g.add_argument(
        "--hop",
        type=float,
        default=d.hop_s * 1000,
        metavar="MS",
        help="time between decisions in ms (%(default).1f)",
    )
    g.add_argument("--seed", type=int, default=d.seed, help="random seed (%(default)s)")
    g.add_argument(
        "--plain",
        action="store_true",
        help="plain nearest neighbour: no continuity, no-repeat, level or gate "
        "(the original method's selection)",
    )


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    values = dict(
        k=args.k,
        continuity=args.continuity,
        no_repeat_s=args.no_repeat,
        level_mode=args.level,
        gate_db=args.gate,
        gate_mode=args.gate_mode,
        hop_s=args.hop / 1000.0,
        seed=args.seed,
    )
    if args.plain:
        return EngineSettings.plain(k=args.k, hop_s=args.hop / 1000.0, seed=args.seed)
    return EngineSettings(**values)
