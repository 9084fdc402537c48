"""The `vaeadv` command: parse, call the library, print. Everything substantial lives in the packages; each
group's sub-commands are declared in its own module here (``cli/data.py``, ``cli/vae.py``, ...), and the
library never imports this package."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence

from vaeadv.cli import data, demo, report, robust, vae
from vaeadv.errors import VaeadvError

GROUPS = (data, vae, robust, report, demo)
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143, as a shell reports a process ended by SIGTERM


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag value is one line on stderr (exit 2), not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> Parser:
    from vaeadv import __version__

    parser = Parser(prog="vaeadv", description="VAEs on 4-bit MNIST and adversarial attacks/defenses on "
                                               "a CIFAR-10 ResNet18.")
    parser.add_argument("--version", action="version", version=f"vaeadv {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="{data,vae,robust,report,demo}", required=True,
                                   parser_class=Parser)
    for group in GROUPS:
        group.add_commands(groups)
    return parser


class Terminated(BaseException):
    """SIGTERM arrived outside a Lightning run (Lightning stops its own loops at a safe point instead)."""


def _on_sigterm(signum, frame) -> None:
    # Inside trainer.fit Lightning wraps this handler with its own and raises SIGTERMException between steps,
    # after the last checkpoint was written whole: raising here could cut a checkpoint write short.
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        raise Terminated


class _Interrupted:
    """Whether Ctrl-C arrived: Lightning turns the KeyboardInterrupt inside a fit into ``exit(1)`` after its
    graceful shutdown, which must still end as an interrupt (130, with the resume hint), not as a failure."""

    seen = False


def _on_sigint(signum, frame) -> None:
    _Interrupted.seen = True
    raise KeyboardInterrupt


# Lightning's start-up chatter, the same for every run and nothing a user acts on: what it says (precision, device)
# is in each run's results.json
LIGHTNING_INFO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
# two internal deprecations, and the checkpoint folder a resumed run finds (the run life-cycle decided it may)
LIGHTNING_NOISE = (r".*isinstance\(treespec, LeafSpec\)", r"You have overridden `on_after_batch_transfer`",
                   r"Checkpoint directory .* exists and is not empty")


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Off a terminal a training command prints one line per epoch: Lightning's info lines and its known
    noise warnings are silenced (its other warnings and every error still show) while a command runs; a
    Python caller of ``main`` gets its logging and warning filters back afterwards."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_INFO_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for pattern in LIGHTNING_NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    previous_int = signal.signal(signal.SIGINT, _on_sigint) if _is_main_thread() else None
    _Interrupted.seen = False
    try:
        with quiet_lightning():
            return args.run(args)
    except VaeadvError as exc:
        print(f"vaeadv: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except (Terminated, SystemExit) as exc:
        if isinstance(exc, SystemExit) and _Interrupted.seen:
            print(INTERRUPTED, file=sys.stderr)
            return 130
        if isinstance(exc, SystemExit) and not _is_lightning_sigterm(exc):
            raise
        print("vaeadv: terminated (SIGTERM); run the same command with --resume (a report or a sweep: run it again) to "
              "continue from the last checkpoint", file=sys.stderr)
        return EXIT_SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
        if previous_int is not None:
            signal.signal(signal.SIGINT, previous_int)


INTERRUPTED = ("vaeadv: interrupted; run the same command with --resume (a report or a sweep: run it again) to "
               "continue from the last checkpoint")


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _is_lightning_sigterm(exc: SystemExit) -> bool:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    return isinstance(exc, SIGTERMException)


if __name__ == "__main__":
    sys.exit(main())
