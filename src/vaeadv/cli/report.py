"""`vaeadv report`: every experiment of the assignment at one scale, then report.md / report.html /
results.json."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaeadv.cli.types import DefaultsHelp, add_data_flags, positive_int
from vaeadv.errors import VaeadvError
from vaeadv.report.scales import EXPERIMENT_NAMES, SCALES
from vaeadv.terminal import is_terminal


def add_commands(groups) -> None:
    p = groups.add_parser(
        "report", help="run (or reuse) every experiment and write report.md, report.html, results.json",
        description="Runs every experiment of the assignment at the chosen scale — resuming an interrupted "
                    "report, reusing finished experiments — and renders the report from the stored results.",
        formatter_class=DefaultsHelp)
    p.add_argument("--scale", choices=list(SCALES), default="smoke",
                   help="; ".join(f"{s.name}: {s.summary}" for s in SCALES.values()))
    p.add_argument("--out", help="report folder (default: report_out/<scale>)")
    p.add_argument("--only", nargs="+", metavar="EXPERIMENT", help="run only these experiments (the report "
                   "still shows every finished one): " + ", ".join(EXPERIMENT_NAMES))
    p.add_argument("--reuse", nargs="+", metavar="DIR", default=[],
                   help="folders holding finished training runs (e.g. docs/results, a robust_logs folder): a run "
                        "whose recorded training configuration is exactly one the report needs is copied in "
                        "(results, figures, best checkpoint) instead of trained again")
    p.add_argument("--no-train", action="store_true",
                   help="train nothing: evaluate the models trained already (shipped weights, runs in the report "
                        "folder or under --reuse) and list the rest as missing, e.g. to publish while a long "
                        "training runs elsewhere")
    p.add_argument("--render-only", action="store_true", help="run nothing; render from the stored results")
    p.add_argument("--publish", metavar="DIR", help="also copy the report, its results and the figures it "
                   "shows (no checkpoints or logs) to DIR, e.g. docs/report")
    p.add_argument("--concurrent", type=positive_int, metavar="N",
                   help="train the VAEs of Part 1 first, N at a time, each in its own process (on a GPU the small "
                        "VAE is bound by the CPU launching its kernels, so several share one GPU well); default: "
                        "one after another inside the experiments")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the VAEs' loss, with CUDA graphs on a GPU (what it gains: docs/benchmarks.md); "
                        "such runs are trained and kept apart from uncompiled ones")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    add_data_flags(p)
    p.set_defaults(run=_report)


def _report(args: argparse.Namespace) -> int:
    import torch

    from vaeadv.io import ensure_writable_dir
    from vaeadv.report.context import Context
    from vaeadv.report.run import publish, render, run_experiments
    from vaeadv.runs import run_lock

    unknown = sorted(set(args.only or []) - set(EXPERIMENT_NAMES))
    if unknown:
        raise VaeadvError(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENT_NAMES)}")
    missing = [d for d in args.reuse if not Path(d).is_dir()]
    if missing:
        raise VaeadvError(f"--reuse {', '.join(missing)}: no such folder; give folders that hold finished runs "
                          "(each with a results.json), e.g. docs/results")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = ensure_writable_dir(Path(args.out or f"report_out/{args.scale}").resolve())
    ctx = Context(out, SCALES[args.scale], args.data_dir, not args.no_download,
                  progress=not args.no_progress and is_terminal(), reuse=tuple(Path(d) for d in args.reuse),
                  train=not args.no_train, compile=args.compile)
    with run_lock(out):  # one report writes a folder at a time
        if not args.render_only:
            run_experiments(ctx, args.only, concurrent=args.concurrent)
        paths = render(ctx)
    for kind, path in paths.items():
        print(f"{kind:<9}{path}")
    if args.publish:
        print(f"published to {publish(ctx, args.publish)}")
    return 0
