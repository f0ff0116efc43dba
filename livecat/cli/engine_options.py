"""Options generated from the parameter registry, shared by ``render`` and ``live`` (one
engine, one set of flags, one set of names)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from livecat.control.params import PARAMS, Param, Value, defaults, format_value
from livecat.control.params import engine_settings as settings_from_values
from livecat.errors import ParameterError
from livecat.synthesis import EngineSettings


def _param_type(p: Param) -> Callable[[str], Value]:
    def convert(text: str) -> Value:
        try:
            return p.coerce(text)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None

    convert.__name__ = p.name  # argparse names the type in some messages
    return convert


def add_param_flag(group: Any, p: Param) -> None:
    """``--<name>`` for a registered parameter (default None: "not given", so a config
    file's value stands unless the command line names it)."""
    metavar = "|".join(p.choices) if p.kind == "choice" else f"{p.lo:g}..{p.hi:g}"
    unit = f" {p.unit}" if p.unit and p.kind != "choice" else ""
    group.add_argument(
        p.flag,
        dest=p.name,
        type=_param_type(p),
        default=None,
        metavar=metavar,
        help=f"{p.help} (default {format_value(p.default)}{unit})",
    )


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    d = EngineSettings()
    g = parser.add_argument_group('selection (docs/selection.md, "Selection knobs")')
    for p in PARAMS:
        if p.engine_field is not None:
            add_param_flag(g, p)
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


def plain_values() -> dict[str, Value]:
    """The registry values of :meth:`EngineSettings.plain` (``--plain``)."""
    plain = EngineSettings.plain()
    return {
        p.name: getattr(plain, p.engine_field)
        for p in PARAMS
        if p.engine_field is not None and p.name != "k"
    }


def param_values(
    args: argparse.Namespace, config_values: dict[str, Value] | None = None
) -> dict[str, Value]:
    """Registry defaults, then the config file's values, then the flags given; ``--plain``
    last (it is a promise about the selection)."""
    values = defaults()
    values.update(config_values or {})
    for p in PARAMS:
        given = getattr(args, p.name, None)
        if given is not None:
            values[p.name] = given
    if getattr(args, "plain", False):
        values.update(plain_values())
    return values


def base_settings(args: argparse.Namespace) -> EngineSettings:
    """What the registry does not cover: hop and seed."""
    return EngineSettings(hop_s=args.hop / 1000.0, seed=args.seed)


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    return settings_from_values(param_values(args), base_settings(args))
