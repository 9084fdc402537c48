"""`vaeadv demo`: the main job, short enough for a fresh machine. Works offline: when MNIST cannot be
found it falls back to Fashion-MNIST (Debian's package, which it names but never installs) and says so."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaeadv.errors import VaeadvError
from vaeadv.terminal import is_terminal

INSTALL_HINT = "sudo apt-get install dataset-fashion-mnist"


def pick_image_dataset(data_dir: str | None, download: bool) -> str:
    """'mnist' if it can be had, else 'fashion-mnist' (with a note), else a clear error."""
    from vaeadv.data.resolve import locate

    try:
        locate("mnist", data_dir, download=download)
        return "mnist"
    except VaeadvError as exc:
        first = str(exc).splitlines()[0]
        print(f"demo: MNIST unavailable ({first}); falling back to Fashion-MNIST.", flush=True)
    try:
        locate("fashion-mnist", data_dir, download=download)
    except VaeadvError as exc:
        raise VaeadvError(f"{exc}\nOn Debian or Ubuntu, Fashion-MNIST is one package away: {INSTALL_HINT}") from None
    return "fashion-mnist"


def run_demo(args: argparse.Namespace) -> int:
    from vaeadv.data.info import dataset_info, format_info

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    image_name = pick_image_dataset(args.data_dir, not args.no_download)
    print("== 1/3 vaeadv data info ==", flush=True)
    for name in ("mnist", "fashion-mnist", "cifar10"):
        try:
            print(format_info(dataset_info(name, args.data_dir)), flush=True)
        except VaeadvError as exc:
            print(f"{name}: not found ({str(exc).splitlines()[0]})")
    vae = _demo_vae(image_name, args, out)
    robust = _demo_robust(image_name, args, out)
    from vaeadv.io import atomic_write_json

    atomic_write_json(out / "demo_results.json", {"vae": vae, "robust": robust})
    print(f"\ndemo: done. Results and pictures in {out}/ (demo_results.json, vae/, robust/)")
    return 0


def _demo_vae(dataset: str, args: argparse.Namespace, out: Path) -> dict:
    from vaeadv.vae.config import VAETrainConfig
    from vaeadv.vae.train import train_vae

    print(f"\n== 2/3 VAE on 4-bit {dataset} (z_dim=2, short run) ==", flush=True)
    quick = args.quick
    cfg = VAETrainConfig(dataset=dataset, data_dir=args.data_dir, download=not args.no_download, z_dim=2,
                         epochs=1 if quick else 2, train_subset=1024 if quick else None, sample_every=1,
                         limit_val_batches=4 if quick else 10, limit_test_batches=4 if quick else None,
                         log_dir=str(out / "vae"), run_name="demo", resume=(out / "vae" / "demo").exists(),
                         progress=not quick and is_terminal())
    r = train_vae(cfg)
    print(f"VAE: test bpd {r['test_bpd']:.3f} after {r['epochs_completed']} epochs; samples and the manifold "
          f"in {r['run_dir']}/", flush=True)
    return {"dataset": dataset, "test_bpd": r["test_bpd"], "run_dir": r["run_dir"]}


def _demo_robust(fallback: str, args: argparse.Namespace, out: Path) -> dict:
    from vaeadv.data.resolve import locate
    from vaeadv.robust.evaluate import AttackSpec, robust_accuracy
    from vaeadv.robust.train import RobustTrainConfig, train_defenses
    from vaeadv.robust.units import budget
    from vaeadv.robust.viz import examples_to_json, save_overview

    try:
        locate("cifar10", args.data_dir, download=not args.no_download)
        dataset = "cifar10"
    except VaeadvError:
        dataset = fallback
        print(f"demo: CIFAR-10 unavailable; the attack demo uses {fallback} (padded to 32×32, 3 channels).")
    print(f"\n== 3/3 FGSM/PGD on a small ResNet18 trained on {dataset} ==", flush=True)
    quick = args.quick
    cfg = RobustTrainConfig(recipe="fast", epochs=1 if quick else 4, train_subset=512 if quick else 8000,
                            test_subset=256 if quick else 2000, width=8 if quick else 16, augment=True,
                            data_dir=args.data_dir, download=not args.no_download, log_dir=str(out / "robust"),
                            run_name="demo", resume=(out / "robust" / "demo").exists(),
                            progress=not quick and is_terminal(), attack=False, dataset=dataset)
    (trained,) = train_defenses(cfg)
    from vaeadv.robust.datamodule import CifarDataModule
    from vaeadv.robust.models import load_classifier

    model = load_classifier(trained["best_checkpoint"])
    dm = CifarDataModule(args.data_dir, val_from="train", dataset=dataset, test_subset=cfg.test_subset)
    dm.setup()
    x, y, which = dm.exact_test()
    x, y = x[: 64 if quick else 500], y[: 64 if quick else 500]
    attacks = [AttackSpec("fgsm", budget(0.1, "normalized"), name="fgsm"),
               AttackSpec("pgd", budget(0.1, "normalized"), budget(0.01, "normalized"), 10, name="pgd"),
               AttackSpec("noise", budget(0.1, "normalized"), name="random-sign noise")]
    r = robust_accuracy(model, x, y, attacks)
    print(f"attacked the first {len(x)} {which} (ε = 0.1 normalised ≈ 6.3/255):")
    print(f"  {'clean':<20}{r['clean_accuracy']:.3f}")
    for name, acc in r["robust_accuracy"].items():
        print(f"  {name:<20}{acc:.3f}")
    picture = save_overview(out / "robust" / "adversarial_examples.png",
                            {k: v[:2] for k, v in r["examples"].items()}, dm.classes)
    return {"dataset": dataset, "data": dm.source, "clean_test_accuracy_split": trained["clean_test_accuracy"],
            "attacked_images": len(x), "clean_accuracy": r["clean_accuracy"], "robust_accuracy": r["robust_accuracy"],
            "examples": examples_to_json(r["examples"], dm.classes), "picture": str(picture) if picture else None}
