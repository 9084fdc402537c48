"""Ship a trained VAE as ``src/vaeadv/weights/NAME.pt`` + ``NAME.json``: the weights and hyper-parameters only
(no optimizer state), fp32, with the manifest's SHA-256 and the measurements of the run it came from.

Usage: python scripts/export_vae_weights.py docs/results/vae_default/best.ckpt vaeadv-vae-z20 \\
           --results docs/results/vae_default/results.json --bits-back docs/results/bbans/mnist_test_10000.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vaeadv.io import atomic_write, atomic_write_json
from vaeadv.registry import sha256_of
from vaeadv.vae.bbans_file import model_sha256
from vaeadv.vae.evaluate import load_vae


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("name")
    p.add_argument("--results", required=True, help="the run's results.json (config, test bpd)")
    p.add_argument("--bits-back", help="a 'vae compress' report of this model")
    p.add_argument("--out", default="src/vaeadv/weights")
    args = p.parse_args()
    model = load_vae(args.checkpoint)
    out = Path(args.out) / f"{args.name}.pt"
    payload = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    atomic_write(out, lambda tmp: torch.save(payload, tmp))
    run = json.loads(Path(args.results).read_text())
    manifest = {"name": args.name, "file": out.name, "sha256": sha256_of(out), "bytes": out.stat().st_size,
                "dtype": "float32", "weights_sha256": model_sha256(model),
                "architecture": f"the assignment's CNN VAE: z_dim {model.hparams.z_dim}, {model.hparams.num_filters} "
                                f"filters, {model.hparams.levels}-level categorical decoder, 28×28 inputs",
                "hyper_parameters": dict(model.hparams), "trained_with": run["config"],
                "epochs": run["epochs_completed"], "best_epoch": run["best_epoch"],
                "test_bpd_10000_images": run["test_bpd"], "data": run["data"], "versions": run.get("versions"),
                "source": Path(args.checkpoint).as_posix()}
    if args.bits_back:
        bb = json.loads(Path(args.bits_back).read_text())
        manifest["bits_back_10000_test_images"] = {"bits_per_pixel": bb["bits_back"]["bits_per_pixel"],
                                                   "elbo_bpd": bb["model"]["elbo_bpd"], "verified": bb["verified"]}
    atomic_write_json(out.with_suffix(".json"), manifest)
    print(f"{out} ({manifest['bytes']} bytes, sha256 {manifest['sha256']})")


if __name__ == "__main__":
    main()
