"""`vaeadv demo` (the runner is ``vaeadv.demo``)."""

from __future__ import annotations

from vaeadv.cli.types import add_data_flags


def add_commands(groups) -> None:
    from vaeadv.demo import run_demo

    demo = groups.add_parser("demo", help="the main job in a few minutes: data info, a short VAE run, "
                                          "a short attack/defense run")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--quick", action="store_true", help="seconds instead of minutes (smoke test)")
    add_data_flags(demo)
    demo.set_defaults(run=run_demo)
