"""`vaeadv demo`: the main job, short enough for a fresh machine. Works offline: when MNIST cannot be
found it falls back to Fashion-MNIST (installing Debian's package when it can) and says so."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from vaeadv.errors import VaeadvError


def add_commands(groups, data_flags) -> None:
    demo = groups.add_parser("demo", help="the main job in a few minutes: data info, a short VAE run, "
                                          "a short attack/defense run")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--quick", action="store_true", help="seconds instead of minutes (smoke test)")
    data_flags(demo)
    demo.set_defaults(run=run_demo)


def _try_install_fashion_mnist() -> bool:
    """apt-get install dataset-fashion-mnist, when we are root on a Debian-like system."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print("demo: installing Debian's dataset-fashion-mnist ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "dataset-fashion-mnist"], env=env,
                          check=False, capture_output=True)
    return done.returncode == 0


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
    except VaeadvError:
        if not _try_install_fashion_mnist():
            raise
        locate("fashion-mnist", data_dir, download=False)
    return "fashion-mnist"


def run_demo(args: argparse.Namespace) -> int:
    from vaeadv.data.info import dataset_info, format_info

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    image_name = pick_image_dataset(args.data_dir, not args.no_download)
    print("== vaeadv data info ==", flush=True)
    for name in ("mnist", "fashion-mnist", "cifar10"):
        try:
            print(format_info(dataset_info(name, args.data_dir)), flush=True)
        except VaeadvError as exc:
            print(f"{name}: not found ({str(exc).splitlines()[0]})")
    print(f"demo: image dataset for the VAE: {image_name}")
    return 0
