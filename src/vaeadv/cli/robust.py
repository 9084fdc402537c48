"""`vaeadv robust train|attack`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaeadv.cli.types import (
    add_data_flags,
    batches_limit,
    config_from_args,
    decay_rate,
    defaults_of,
    devices,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
    seed,
    sha256_hex,
    smoothing,
    subcommand,
    unit_fraction,
)
from vaeadv.errors import VaeadvError
from vaeadv.robust.config import DEFENSES, RobustTrainConfig
from vaeadv.robust.kinds import ATTACK_LOSSES, ATTACKS, KINDS, choices_help
from vaeadv.robust.recipes import DESCRIPTIONS, RECIPES
from vaeadv.robust.units import UNITS
from vaeadv.terminal import is_terminal

D = defaults_of(RobustTrainConfig)


def add_commands(groups) -> None:
    robust = groups.add_parser("robust", help="FGSM/PGD attacks and defenses on a CIFAR-10 ResNet18")
    cmds = robust.add_subparsers(dest="command", required=True)

    subcommand(cmds, "train", "train ResNet18 with the standard / FGSM-objective / PGD-batch defenses",
               add_train_flags, _train)
    subcommand(cmds, "attack", "accuracy under FGSM/PGD/APGD for a trained checkpoint or weights file",
               _add_attack_flags, _attack)
    subcommand(cmds, "diagnose", "is the robustness real? every attack loss, restarts, APGD, large ε and the "
                                 "gradient-masking checks' verdict, at ε = 0.1 normalised and 8/255",
               _add_diagnose_flags, _diagnose)
    subcommand(cmds, "export", "a trained checkpoint → shipped fp16 weights + manifest (accuracy measured on the "
                               "fp16 file)", _add_export_flags, _export)


def add_train_flags(t: argparse.ArgumentParser) -> None:
    """``robust train``'s flags: one per ``RobustTrainConfig`` field (its ``dest``), plus how the run is executed."""
    t.add_argument("--defense", "--train-strats", "--train_strats", nargs="+", choices=list(DEFENSES),
                   default=["standard"], dest="defenses",
                   help="training defenses, one run each (--train-strats: the template's name for it); fgsm-rs: "
                        "FGSM from a random start with step 1.25ε (Wong, Rice & Kolter 2020); n-fgsm: noise of 2ε, "
                        "a step of ε, no projection to the ε-ball (de Jorge et al. 2022)")
    t.add_argument("--recipe", choices=list(RECIPES), default="template",
                   help="; ".join(f"{name}: {text}" for name, text in DESCRIPTIONS.items()))
    t.add_argument("--precision", help="Lightning training precision, e.g. 32-true or bf16-mixed "
                                       "(default: the recipe's; evaluation is always fp32)")
    t.add_argument("--epochs", type=positive_int, help="default: the recipe's")
    t.add_argument("--batch-size", "--batch_size", type=positive_int, help="default: the recipe's")
    t.add_argument("--lr", type=positive_float, help="default: the recipe's")
    t.add_argument("--label-smoothing", type=smoothing, metavar="S",
                   help="label smoothing of the training loss (default: the recipe's; 0 for every recipe)")
    t.add_argument("--augment", action="store_true", help="random crop (zero padding 4) + horizontal flip")
    t.add_argument("--cutout", type=nonneg_int, default=D.cutout, metavar="PIXELS",
                   help="blank a PIXELS×PIXELS square at a random centre of each training image (Cutout; 16 is "
                        "DeVries & Taylor's CIFAR-10 size); 0: none")
    t.add_argument("--ema", type=decay_rate, default=D.ema_decay, metavar="DECAY", dest="ema_decay",
                   help="validate, checkpoint and keep an exponential moving average of the weights, updated "
                        "every step (e.g. 0.999); 0: off")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the network for training steps (where it pays: docs/benchmarks.md); the "
                        "compile time is reported apart (first_step_excess_seconds in results.json) and checkpoints "
                        "are unchanged")
    t.add_argument("--pretrained", help="weights to start from: a shipped name (vaeadv-resnet18), or a file/URL of "
                                        "a torchvision-layout ResNet18 state dict or checkpoint")
    t.add_argument("--train-pretrained", action="store_true",
                   help="train the standard defense from the --pretrained weights (e.g. the fine-tuning control of a "
                        "defense) instead of only loading and scoring them, as the template does")
    t.add_argument("--pretrained-sha256", type=sha256_hex,
                   help="the SHA-256 the --pretrained weights must have (refused otherwise); recorded with the run "
                        "either way, so a run is known by the file it started from")
    add_data_flags(t)
    t.add_argument("--val-from", choices=["test", "train"], help="where validation images come from")
    t.add_argument("--valid-ratio", "--valid_ratio", type=unit_fraction, default=D.valid_ratio)
    t.add_argument("--train-subset", type=positive_int, help="train on N random training images (CPU runs)")
    t.add_argument("--test-subset", type=positive_int, help="test on the first N images of the test split")
    _add_budget_flags(t)
    t.add_argument("--cross-over", action="store_true", help="attack every model with both FGSM and PGD")
    t.add_argument("--no-attack", action="store_true", help="skip the attack evaluation after training")
    t.add_argument("--eval-limit", type=positive_int, help="attack only the first N exact test images")
    t.add_argument("--holdout-only", action="store_true",
                   help="score the finished run on its held-out training images only, no test image (pilot runs "
                        "that choose a method or schedule before the chosen run is tested once)")
    t.add_argument("--width", type=positive_int, default=D.width, help="ResNet18 base width (64 = the standard)")
    t.add_argument("--seed", type=seed, default=D.seed)
    t.add_argument("--log-dir", default=D.log_dir)
    t.add_argument("--run-name")
    t.add_argument("--accelerator", default=D.accelerator)
    t.add_argument("--devices", type=devices, default=D.devices)
    t.add_argument("--strategy", dest="pl_strategy", default=D.pl_strategy, help="Lightning strategy, e.g. ddp")
    t.add_argument("--limit-train-batches", type=batches_limit)
    t.add_argument("--limit-val-batches", type=batches_limit)
    t.add_argument("--threads", type=positive_int, help="torch CPU threads")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--no-progress", action="store_true")


def _add_attack_flags(a: argparse.ArgumentParser) -> None:
    a.add_argument("checkpoint", help="a checkpoint from 'vaeadv robust train', a torchvision-layout state dict, "
                                      "or a shipped name (vaeadv-resnet18)")
    a.add_argument("--attack", nargs="+", choices=list(KINDS), default=["fgsm", "pgd"], help=choices_help())
    a.add_argument("--eps", type=nonneg_float, nargs="+", help="one or more ε (default: 0.1 normalised)")
    a.add_argument("--alpha", type=nonneg_float, help="PGD step (default: ε/10)")
    a.add_argument("--steps", type=positive_int, default=ATTACKS["pgd"].steps, help="PGD iterations")
    a.add_argument("--apgd-steps", type=positive_int, default=ATTACKS["apgd-ce"].steps,
                   help="APGD iterations (the authors' 100)")
    a.add_argument("--targets", type=positive_int, default=3, help="APGD-T target classes (AutoAttack: 9)")
    a.add_argument("--random-start", action="store_true", help="PGD from a uniform point of the ε-ball")
    a.add_argument("--restarts", type=positive_int, default=1)
    a.add_argument("--units", choices=list(UNITS), default="normalized",
                   help="ε/α in pixel units [0,1] or the template's normalised units (×σ per channel)")
    for which in ("fgsm", "pgd"):
        a.add_argument(f"--{which}-loss", choices=list(ATTACK_LOSSES), default="ce",
                       help=f"the loss {which.upper()} climbs: " + "; ".join(f"{k}: {v}" for k, v in
                                                                            ATTACK_LOSSES.items()))
    _add_eval_set_flags(a)
    a.add_argument("--batch-size", type=positive_int, default=256)
    a.add_argument("--visualise", "--visualize", action="store_true", help="write example pictures")
    a.add_argument("--out", help="output folder (default: attack/ beside the checkpoint)")
    add_data_flags(a)


def _add_eval_set_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--eval-set", choices=["exact", "test", "holdout"], default="exact",
                   help="exact: test images with true pixels; test: the whole test split; holdout: the training "
                        "images a run held out (give its --holdout-seed), to compare runs before any test image "
                        "is attacked")
    p.add_argument("--holdout-seed", type=seed, help="with --eval-set holdout: the --seed of the run whose held-out "
                                                     "images these are")
    held_out = ", ".join(f"{name} {r.val_size:,}" for name, r in RECIPES.items() if r.val_from == "train")
    p.add_argument("--holdout-size", type=positive_int, default=2000,
                   help=f"with --eval-set holdout: how many images the run's recipe held out ({held_out}); a larger "
                        "number takes in images that run trained on")
    p.add_argument("--limit", type=positive_int, help="first N images of the evaluation set")


def _add_diagnose_flags(g: argparse.ArgumentParser) -> None:
    g.add_argument("checkpoint", help="a checkpoint from 'vaeadv robust train', a weights file, or a shipped name")
    g.add_argument("--steps", type=positive_int, default=ATTACKS["pgd"].steps, help="PGD iterations")
    g.add_argument("--restarts", type=positive_int, default=5, help="random starts of the larger-step PGD")
    _add_eval_set_flags(g)
    g.add_argument("--batch-size", type=positive_int, default=256)
    g.add_argument("--out", help="output folder (default: diagnose/ beside the checkpoint)")
    add_data_flags(g)


def _diagnose(args: argparse.Namespace) -> int:
    from vaeadv.io import atomic_write_json
    from vaeadv.robust.diagnose import diagnose, standard_budgets

    model, x, y, which, dm, sha = _attacked(args)
    r = diagnose(model, x, y, standard_budgets(args.steps), steps=args.steps, restarts=args.restarts,
                 batch_size=args.batch_size)
    out = _out_dir(args, "diagnose")
    atomic_write_json(out / "diagnosis.json", {"checkpoint": str(args.checkpoint), "weights_sha256": sha,
                                               "data": dm.source, "evaluated_on": f"first {len(x)} {which}", **r})
    print(f"evaluated on {len(x)} images ({which}); clean {r['clean_accuracy']:.4f}")
    for name, ci in r["intervals"].items():
        print(f"{name:<28}{ci['accuracy']:.4f}  [{ci['ci95_low']:.4f}, {ci['ci95_high']:.4f}]")
    for label, entry in r["per_eps"].items():
        print(f"ε = {label}: {entry['verdict']}")
    print(f"written to {out}/diagnosis.json")
    return 0


def _add_export_flags(e: argparse.ArgumentParser) -> None:
    e.add_argument("checkpoint", help="a best/last checkpoint of 'vaeadv robust train'")
    e.add_argument("--name", default="vaeadv-resnet18", help="short name the weights are loaded by")
    e.add_argument("--out", help="folder for NAME.pt and NAME.json (default: the package's weights folder, where "
                                 "shipped names are found)")
    e.add_argument("--robustness", nargs="+", default=[], metavar="JSON",
                   help="attack_results.json files of 'vaeadv robust attack NAME' on the exported weights, kept in "
                        "the manifest (refused unless measured on this very file)")
    add_data_flags(e)


def _add_budget_flags(p) -> None:
    p.add_argument("--units", choices=list(UNITS), default=D.units,
                   help="units of the ε/α below (normalised = the template's)")
    p.add_argument("--fgsm-eps", type=nonneg_float, default=D.fgsm_eps)
    p.add_argument("--fgsm-alpha", type=nonneg_float, default=D.fgsm_alpha, help="weight of the clean loss")
    p.add_argument("--pgd-eps", type=nonneg_float, default=D.pgd_eps)
    p.add_argument("--pgd-alpha", type=nonneg_float, default=D.pgd_alpha)
    p.add_argument("--pgd-steps", type=positive_int, default=D.pgd_steps)
    p.add_argument("--pgd-random-start", action="store_true",
                   help="the PGD defense's examples start from a uniform point of the ε-ball (Madry et al.)")
    p.add_argument("--overfit-guard", action=argparse.BooleanOptionalAction, default=None,
                   help="after each epoch, PGD on 512 held-out training images; a drop of > 20 points restores the "
                        "last good weights and stops (default: on for fgsm-rs)")


def _train(args: argparse.Namespace) -> int:
    import torch

    from vaeadv.robust.train import train_defenses

    if args.threads:
        torch.set_num_threads(args.threads)
    if not 0 <= args.fgsm_alpha <= 1:
        raise VaeadvError(f"--fgsm-alpha must lie in [0, 1], got {args.fgsm_alpha}")
    cfg = config_from_args(RobustTrainConfig, args, defenses=tuple(args.defenses),
                           download=not args.no_download, progress=not args.no_progress and is_terminal(),
                           attack=not args.no_attack)
    if cfg.holdout_only:
        print(f"{'defense':<10}{'clean(hold-out)':>16}  PGD on the hold-out (guarded runs)")
    else:
        print(f"{'defense':<10}{'clean(test)':>12}  attacks on exact test images")
    for r in train_defenses(cfg):
        if "clean_eval" not in r:  # a DDP worker other than rank 0: rank 0 scores and reports
            continue
        if cfg.holdout_only:
            pgd = r.get("holdout_attack")
            print(f"{r['defense']:<10}{r['clean_eval']['holdout']['accuracy']:>16.4f}  "
                  f"{'' if pgd is None else format(pgd['accuracy'], '.4f')}  → {r['run_dir']}/results.json")
            continue
        ev = r.get("attack_eval", {})
        attacks = "  ".join(f"{k} {v:.3f}" for k, v in ev.get("robust_accuracy", {}).items())
        print(f"{r['defense']:<10}{r['clean_test_accuracy']:>12.4f}  {attacks}  → {r['run_dir']}/results.json")
    return 0


def _attacked(args: argparse.Namespace):
    """The model of ``args.checkpoint`` and the images it is attacked on: (model, images, labels, which, data
    module, the attacked file's SHA-256 or None for a URL)."""
    from vaeadv.registry import resolve, sha256_of
    from vaeadv.robust.datamodule import CifarDataModule
    from vaeadv.robust.models import load_classifier

    holdout = args.eval_set == "holdout"
    if holdout and args.holdout_seed is None:
        raise VaeadvError("--eval-set holdout needs --holdout-seed: the --seed of the run whose held-out training "
                          "images to attack (another seed's hold-out holds images that run trained on)")
    model = load_classifier(args.checkpoint)
    dm = CifarDataModule(args.data_dir, val_from="train", download=not args.no_download,
                         **({"val_size": args.holdout_size, "seed": args.holdout_seed} if holdout else {}))
    dm.setup()
    if args.eval_set == "exact":
        x, y, which = dm.exact_test()
    elif holdout:
        x, y = dm.x_val, dm.y_val
        which = f"training images held out with seed {args.holdout_seed} ({args.holdout_size:,})"
    else:
        x, y, which = dm.x_test, dm.y_test, "test images"
    attacked = resolve(args.checkpoint)[0]  # a local file (or a shipped name's file) is hashed; a URL is not
    sha = sha256_of(attacked) if "://" not in str(attacked) else None
    return model, x[: args.limit], y[: args.limit], which, dm, sha


def _out_dir(args: argparse.Namespace, name: str) -> Path:
    """``--out``, else ``name/`` beside a checkpoint's checkpoints folder, or in the working directory for a shipped
    name or a URL (there is no run folder to write beside)."""
    if args.out:
        return Path(args.out)
    given = Path(args.checkpoint)
    return (given.resolve().parent.parent if given.is_file() else Path.cwd()) / name


def _attack(args: argparse.Namespace) -> int:
    from vaeadv.io import atomic_write_json
    from vaeadv.robust.evaluate import AttackSpec, robust_accuracy
    from vaeadv.robust.units import budget
    from vaeadv.robust.viz import examples_to_json, save_example, save_overview

    model, x, y, which, dm, sha = _attacked(args)
    specs = []
    for eps in args.eps or [0.1]:
        alpha = args.alpha if args.alpha is not None else eps / 10
        for kind in args.attack:
            steps = args.apgd_steps if ATTACKS[kind].parameter_free else args.steps
            specs.append(AttackSpec(kind, budget(eps, args.units), budget(alpha, args.units), steps,
                                    loss=getattr(args, f"{kind}_loss", "ce"), random_start=args.random_start,
                                    restarts=args.restarts, name=f"{kind} eps={eps:g}", targets=args.targets))
    r = robust_accuracy(model, x, y, specs, batch_size=args.batch_size)
    out = _out_dir(args, "attack")
    result = {"checkpoint": str(args.checkpoint), "weights_sha256": sha,
              "data": dm.source, "evaluated_on": f"first {len(x)} {which}",
              "units": args.units, "clean_accuracy": r["clean_accuracy"], "robust_accuracy": r["robust_accuracy"],
              "attack_seconds": r["attack_seconds"], "intervals": r["intervals"],
              "examples": examples_to_json(r["examples"], dm.classes)}
    atomic_write_json(out / "attack_results.json", result)
    print(f"evaluated on {len(x)} images ({which}); data: {dm.source}")
    for name, ci in r["intervals"].items():
        took = f"  ({r['attack_seconds'][name]:.1f} s)" if name in r["attack_seconds"] else ""
        print(f"{name:<24}{ci['accuracy']:.4f}  [{ci['ci95_low']:.4f}, {ci['ci95_high']:.4f}]{took}")
    if args.visualise:
        for name, exs in r["examples"].items():
            for i, ex in enumerate(exs):
                save_example(out / f"{name.replace(' ', '_').replace('=', '')}_{i}.png", ex, dm.classes, name)
        save_overview(out / "overview.png", r["examples"], dm.classes)
    print(f"written to {out}/")
    return 0


def _export(args: argparse.Namespace) -> int:
    from vaeadv.registry import weights_folder
    from vaeadv.robust.export import export_run

    out = Path(args.out) if args.out else weights_folder()
    manifest = export_run(args.checkpoint, out, args.name, args.robustness, command_of=train_command,
                          data_dir=args.data_dir, download=not args.no_download)
    for key, r in manifest["accuracy_of_shipped_fp16_file"].items():
        print(f"{key:<18}{r['accuracy']:.4f}  [{r['ci95_low']:.4f}, {r['ci95_high']:.4f}]  n={r['n']}")
    print(f"sha256 {manifest['sha256']}  → {out / manifest['file']}")
    return 0


# where a run is written, on what it runs and how it reports: not part of the command that reproduces its training
NOT_REPRODUCED = frozenset({"data_dir", "download", "log_dir", "resume", "progress", "accelerator", "devices",
                            "pl_strategy", "limit_train_batches", "limit_val_batches"})
NEGATED = {"no_attack": "attack"}  # flags that set their field to False


def train_command(config: dict) -> str:
    """The ``vaeadv robust train`` command line that reproduces a run, from its recorded config: read off the
    parser's own flags, each setting that differs from its default as its flag (the defenses always)."""
    from dataclasses import asdict

    from vaeadv.robust.config import RobustTrainConfig, upgrade_config

    config, defaults = upgrade_config(config), asdict(RobustTrainConfig())
    parser = argparse.ArgumentParser(add_help=False)
    add_train_flags(parser)
    parts = ["vaeadv robust train"]
    for action in parser._actions:
        field = NEGATED.get(action.dest, action.dest)
        if field not in defaults or field in NOT_REPRODUCED or field not in config:
            continue
        value, flag = config[field], action.option_strings[0]
        if field == "defenses":
            parts.append(f"{flag} " + " ".join(value))
        elif value == defaults[field]:
            continue
        elif isinstance(action, argparse.BooleanOptionalAction):
            parts.append(flag if value else flag.replace("--", "--no-", 1))
        elif isinstance(action, argparse._StoreTrueAction):  # a switch away from its field's default
            parts.append(flag)
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)
