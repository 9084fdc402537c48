"""`vaeadv vae train|evaluate`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from vaeadv.cli.types import (
    DefaultsHelp,
    add_data_flags,
    batches_limit,
    config_from_args,
    decay_rate,
    defaults_of,
    devices,
    nonneg_float,
    positive_float,
    positive_int,
    seed,
    subcommand,
)
from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write_json
from vaeadv.terminal import is_terminal
from vaeadv.vae.config import RECIPES, DatasetName, LrSchedule, VAETrainConfig, recipe_config

D = defaults_of(VAETrainConfig)


def add_commands(groups) -> None:
    vae = groups.add_parser("vae", help="train and evaluate the VAE on 4-bit MNIST / Fashion-MNIST")
    cmds = vae.add_subparsers(dest="command", required=True)

    t = cmds.add_parser("train", help="train a VAE with Lightning (template defaults)",
                        formatter_class=DefaultsHelp)
    _add_training_flags(t, grid=False)
    t.add_argument("--run-name", help="sub-folder of --log-dir (default: derived from the settings)")
    t.add_argument("--devices", type=devices, default=D.devices, help="Lightning devices: auto, N, or a list")
    t.add_argument("--strategy", default=D.strategy, help="Lightning strategy, e.g. ddp")
    t.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's choice)")
    t.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    t.add_argument("--no-progress", action="store_true", help="one line per epoch instead of a progress bar "
                                                                "(the default off a terminal)")
    t.set_defaults(run=_train)

    s = cmds.add_parser("sweep", help="train a grid of VAEs (β × z × recipe), several at once on one machine",
                        description="Every combination of --beta, --z-dim and --recipe is one 'vae train' run in "
                                    "its own folder under --log-dir, trained in its own process, --concurrent at a "
                                    "time (on a GPU the small VAE is bound by the CPU launching its kernels, so "
                                    "several runs share one GPU well). Run it again to resume: finished runs are "
                                    "skipped, interrupted ones continue from their last checkpoint. Writes "
                                    "sweep.json (every run's test bpd and wall time) in --log-dir.",
                        formatter_class=DefaultsHelp)
    _add_training_flags(s, grid=True)
    s.add_argument("--concurrent", type=positive_int, default=1, help="runs trained at the same time")
    s.add_argument("--threads", type=positive_int, help="torch CPU threads per run (default: the cores / "
                                                          "--concurrent)")
    s.set_defaults(run=_sweep, log_dir="VAE_sweep")

    subcommand(cmds, "evaluate", "test ELBO and IWAE bpd, KL per dimension, active units", _add_evaluate_flags,
               _evaluate)
    subcommand(cmds, "compress", "lossless compression of 4-bit images with the VAE (bits-back ANS), compared with "
                                 "PNG, gzip, bzip2 and xz", _add_compress_flags, _compress)

    d = cmds.add_parser("decompress", help="decode a .bbans file back into the images (.npy, uint8 levels)",
                        formatter_class=DefaultsHelp)
    d.add_argument("checkpoint", help="the checkpoint the file was compressed with")
    d.add_argument("file", help="a .bbans file from 'vaeadv vae compress'")
    d.add_argument("out", help="the .npy file to write: [N,H,W] uint8 levels")
    d.set_defaults(run=_decompress)


def _add_evaluate_flags(e: argparse.ArgumentParser) -> None:
    e.add_argument("checkpoint", help="a .ckpt written by 'vaeadv vae train'")
    e.add_argument("--dataset", choices=list(get_args(DatasetName)), default=D.dataset)
    add_data_flags(e)
    e.add_argument("--iw-samples", type=positive_int, default=100, help="importance samples K")
    e.add_argument("--limit", type=positive_int, help="evaluate only the first N test images")
    e.add_argument("--prior-samples", type=positive_int, default=0,
                   help="also the naive prior-sampling estimate with this many samples (Q1.2)")
    e.add_argument("--seed", type=seed, default=0)
    e.add_argument("--device", default="auto", help="torch device: auto (cuda when available), cpu, cuda, cuda:1, ...")
    e.add_argument("--out", help="JSON output (default: evaluation.json beside the checkpoint's run)")


def _add_compress_flags(c: argparse.ArgumentParser) -> None:
    c.add_argument("checkpoint", help="a .ckpt written by 'vaeadv vae train'")
    c.add_argument("out", help="the .bbans file to write (a JSON report is written beside it)")
    c.add_argument("--dataset", choices=list(get_args(DatasetName)), default=D.dataset)
    add_data_flags(c)
    c.add_argument("--split", choices=["test", "train"], default="test")
    c.add_argument("--limit", type=positive_int, help="only the first N images of the split")
    c.add_argument("--buckets", type=positive_int, default=1024, help="latent buckets per dimension (equal prior "
                                                                        "mass)")
    c.add_argument("--seed", type=seed, default=0, help="seed of the initial bits")
    c.add_argument("--verify", action="store_true", help="decode the file again and compare bit for bit")
    c.add_argument("--iw-samples", type=positive_int, default=100, help="importance samples for the IWAE bound "
                                                                          "in the report")


def _add_training_flags(t: argparse.ArgumentParser, grid: bool) -> None:
    """The flags of one run's training; with ``grid`` the β, z and recipe flags take several values."""
    several = {"nargs": "+"} if grid else {}
    t.add_argument("--dataset", choices=list(get_args(DatasetName)), default=D.dataset)
    add_data_flags(t)
    t.add_argument("--z-dim", "--z_dim", type=positive_int, default=[D.z_dim] if grid else D.z_dim, **several,
                   help="latent dimensions")
    t.add_argument("--num-filters", "--num_filters", type=positive_int, default=D.num_filters, help="CNN width c")
    t.add_argument("--recipe", choices=list(RECIPES), default=["template"] if grid else "template", **several,
                   help="optimisation of the same model and epochs: 'template' = Adam 1e-3, constant; 'improved' = "
                        "cosine decay from 3e-3, weight decay 0.01, EMA 0.999 (measured in docs/results). The four "
                        "flags below override single settings")
    t.add_argument("--lr", type=positive_float, help="default: the recipe's")
    t.add_argument("--lr-schedule", choices=list(get_args(LrSchedule)), help="default: the recipe's")
    t.add_argument("--weight-decay", type=nonneg_float, help="decoupled (AdamW) when > 0; default: the recipe's")
    t.add_argument("--ema", type=decay_rate, metavar="DECAY", dest="ema_decay",
                   help="validate, checkpoint and test an exponential moving average of the weights (e.g. 0.999; "
                        "0 = off); default: the recipe's")
    t.add_argument("--beta", type=nonneg_float, default=[D.beta] if grid else D.beta, **several,
                   help="β-VAE weight of the KL term")
    t.add_argument("--batch-size", "--batch_size", type=positive_int, default=D.batch_size)
    t.add_argument("--epochs", type=positive_int, default=D.epochs)
    t.add_argument("--seed", type=seed, default=D.seed)
    t.add_argument("--log-dir", "--log_dir", default=D.log_dir)
    t.add_argument("--accelerator", default=D.accelerator, help="Lightning accelerator: auto, cpu, gpu, ...")
    t.add_argument("--limit-train-batches", type=batches_limit, help="quick runs: batches (int) or fraction")
    t.add_argument("--limit-val-batches", type=batches_limit)
    t.add_argument("--limit-test-batches", type=batches_limit)
    t.add_argument("--train-subset", type=positive_int, help="use only the first N training images")
    t.add_argument("--sample-every", type=positive_int, default=D.sample_every, help="sample grid every N epochs")
    t.add_argument("--compile", action="store_true",
                   help="torch.compile the per-image loss (a one-off compile; checkpoints unchanged), with CUDA "
                        "graphs on a GPU; what it gains is measured in docs/benchmarks.md")
    t.add_argument("--force", action="store_true", help="write a run folder estimated above 1 GB or the free disk")


def train_config(args: argparse.Namespace) -> VAETrainConfig:
    """The run's settings: the flags by field name over the recipe's optimisation settings over the defaults."""
    recipe_keys = ("lr", "lr_schedule", "weight_decay", "ema_decay")
    flags = config_from_args(VAETrainConfig, args, download=not args.no_download,
                             progress=not args.no_progress and is_terminal(), **dict.fromkeys(recipe_keys))
    return recipe_config(args.recipe, **{**vars(flags), **{k: getattr(args, k) for k in recipe_keys}})


def _train(args: argparse.Namespace) -> int:
    import torch

    from vaeadv.vae.train import train_vae

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = train_config(args)
    r = train_vae(cfg)
    print(f"best epoch {r['best_epoch']}: val bpd {r['best_val_bpd']:.4f}, test bpd {r['test_bpd']:.4f} "
          f"(best-val checkpoint). Results: {r['run_dir']}/results.json")
    return 0


def sweep_configs(args: argparse.Namespace) -> list[VAETrainConfig]:
    """One config per combination of the recipes, latent sizes and βs given (in that order), each in its own
    folder named by its settings."""
    from dataclasses import replace

    from vaeadv.vae.sweep import sweep_run_name

    configs = []
    for recipe in dict.fromkeys(args.recipe):
        for z_dim in dict.fromkeys(args.z_dim):
            for beta in dict.fromkeys(args.beta):
                one = argparse.Namespace(**{**vars(args), "recipe": recipe, "z_dim": z_dim, "beta": beta,
                                            "no_progress": True})
                cfg = train_config(one)
                configs.append(replace(cfg, run_name=sweep_run_name(cfg)))
    return configs


def _sweep(args: argparse.Namespace) -> int:
    from vaeadv.io import ensure_writable_dir
    from vaeadv.vae.sweep import run_many

    configs = sweep_configs(args)
    log_dir = ensure_writable_dir(Path(args.log_dir))
    outcomes = run_many(configs, args.concurrent, threads=args.threads, summary=log_dir / "sweep.json")
    failed = [o["run"] for o in outcomes if o["status"] not in ("finished", "done earlier")]
    print(f"{len(outcomes) - len(failed)} of {len(configs)} runs finished. Summary: {log_dir / 'sweep.json'}")
    if failed:
        raise VaeadvError(f"{len(failed)} run(s) failed: {', '.join(failed)}; see train.log in each folder, then "
                          "run the same command again to retry them (finished runs are skipped)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from vaeadv.data import load_dataset, quantize
    from vaeadv.vae.evaluate import evaluate_vae, load_vae, prior_sampling_bpd

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    model = load_vae(args.checkpoint)
    try:
        model = model.to(device)
    except (RuntimeError, AssertionError) as exc:  # unknown or unavailable device
        raise VaeadvError(f"--device {args.device}: {str(exc).splitlines()[0]}") from None
    data = load_dataset(args.dataset, args.data_dir, download=not args.no_download)
    imgs = quantize(data.x_test, model.hparams.levels)[: args.limit]
    result = {"checkpoint": str(args.checkpoint), "data": data.source,
              **evaluate_vae(model, imgs, iw_samples=args.iw_samples, seed=args.seed)}
    if args.prior_samples:
        result["prior_sampling_bpd"] = prior_sampling_bpd(model, imgs, args.prior_samples, seed=args.seed)
    out = Path(args.out) if args.out else Path(args.checkpoint).parent.parent / "evaluation.json"
    atomic_write_json(out, result)
    print(f"{'images':<22}{result['images']}")
    for key in ("elbo_bpd", "iwae_bpd", "prior_sampling_bpd", "reconstruction_nats", "kl_nats", "active_units"):
        if key in result:
            value = result[key]
            print(f"{key:<22}{value:.4f}" if isinstance(value, float) else f"{key:<22}{value}")
    print(f"{'iw_samples':<22}{result['iw_samples']}")
    print(f"written to {out}")
    return 0





def _progress(total: int, what: str):
    """A tqdm bar on a terminal; elsewhere nothing per image (one summary line is printed at the end)."""
    if not is_terminal():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=what, unit="img")
    return (lambda done: bar.update(done - bar.n)), bar.close


def _compress(args: argparse.Namespace) -> int:
    import numpy as np

    from vaeadv.data import load_dataset, quantize
    from vaeadv.io import atomic_write_json
    from vaeadv.vae.compress import compress, decompress, generic_baselines
    from vaeadv.vae.evaluate import evaluate_vae, load_vae

    model = load_vae(args.checkpoint).cpu()
    data = load_dataset(args.dataset, args.data_dir, download=not args.no_download)
    x = data.x_test if args.split == "test" else data.x_train
    levels = quantize(x[: args.limit], model.hparams.levels)
    images = levels[:, 0].numpy().astype(np.uint8)
    update, close = _progress(len(images), "encode")
    coded = compress(model, images, args.out, buckets=args.buckets, seed=args.seed, progress=update)
    close()
    report = {"checkpoint": str(args.checkpoint), "data": data.source, "split": args.split, "images": len(images),
              "bits_back": coded}
    if args.verify:
        update, close = _progress(len(images), "decode")
        back, decoded = decompress(model, args.out, progress=update)
        close()
        report["verified"] = bool(np.array_equal(back, images))
        report["decode"] = decoded
        if not report["verified"]:
            raise VaeadvError(f"{args.out} did not decode to the same images")
    ev = evaluate_vae(model, levels, iw_samples=args.iw_samples, seed=args.seed)
    report["model"] = {"elbo_bpd": ev["elbo_bpd"], "iwae_bpd": ev["iwae_bpd"], "iw_samples": ev["iw_samples"]}
    report["generic"] = generic_baselines(images)
    report["gap_to_elbo"] = coded["bits_per_pixel"] / ev["elbo_bpd"] - 1
    atomic_write_json(Path(str(args.out) + ".json"), report)
    rows = [("vaeadv bits-back (whole file)", coded["bits_per_pixel"]), ("model: negative ELBO", ev["elbo_bpd"]),
            (f"model: IWAE bound (K={ev['iw_samples']})", ev["iwae_bpd"]), *report["generic"].items()]
    print(f"{len(images)} {args.split} images, bits per pixel:")
    for name, bpp in rows:
        print(f"  {name:<44}{bpp:.4f}")
    decoded = (f", decoded at {report['decode']['decode_images_per_second']} images/s, bit-exact" if args.verify
               else "")
    print(f"bits-back is {100 * report['gap_to_elbo']:+.2f}% from the ELBO; encoded at "
          f"{coded['encode_images_per_second']} images/s{decoded}")
    print(f"written: {args.out} ({coded['file_bytes']} bytes) and {args.out}.json")
    return 0


def _decompress(args: argparse.Namespace) -> int:
    import io

    import numpy as np

    from vaeadv.io import atomic_write_bytes
    from vaeadv.vae.bbans_file import read as read_file
    from vaeadv.vae.compress import decompress

    def read_header(path):
        return read_file(path)[0]
    from vaeadv.vae.evaluate import load_vae

    model = load_vae(args.checkpoint).cpu()
    update, close = _progress(int(read_header(args.file)["count"]), "decode")
    images, info = decompress(model, args.file, progress=update)
    close()
    buffer = io.BytesIO()
    np.save(buffer, images)
    atomic_write_bytes(Path(args.out), buffer.getvalue())
    print(f"{len(images)} images decoded bit-exactly (checksum verified) at {info['decode_images_per_second']} "
          f"images/s → {args.out}")
    return 0
