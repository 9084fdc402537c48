"""Turn a trained checkpoint into shipped weights: an fp16 state dict, its SHA-256 and a manifest whose
accuracies were measured on the reloaded fp16 file (so the published numbers are those of what ships)."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from vaeadv.checkpoints import load_checkpoint
from vaeadv.io import atomic_write_bytes, atomic_write_json
from vaeadv.registry import sha256_of
from vaeadv.robust.evaluate import clean_scores
from vaeadv.robust.models import load_classifier, network_state


def half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors to fp16 (about 22 MB for the width-64 ResNet18, half the fp32 file); integer buffers such
    as BatchNorm's ``num_batches_tracked`` unchanged."""
    return {k: v.detach().to(torch.float16) if v.is_floating_point() else v.detach() for k, v in state.items()}


def write_fp16_weights(checkpoint: str | Path, out: str | Path) -> str:
    """Write the network of ``checkpoint`` as an fp16 state dict at ``out`` (atomically); returns its SHA-256."""
    state = half_state(network_state(load_checkpoint(checkpoint, "ResNet18")))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(out, buffer.getvalue())
    return sha256_of(out)


def evaluate_shipped(path: str | Path, test_sets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, dict]:
    """Accuracy (Wilson 95% CI) of the reloaded file on each named test set, plain and with flip TTA, in fp32
    (one pass per set gives both)."""
    model = load_classifier(path)
    results = {}
    for name, (x, y) in test_sets.items():
        scores = clean_scores(model, x, y, {})
        results[name], results[f"{name}_flip_tta"] = scores["all"], scores["all_flip_tta"]
    return results


def export_weights(checkpoint: str | Path, out_dir: str | Path, name: str,
                   test_sets: dict[str, tuple[torch.Tensor, torch.Tensor]], about: dict) -> dict:
    """``out_dir/NAME.pt`` + ``out_dir/NAME.json``; ``about`` (recipe, command, seed, wall time, hardware,
    versions...) is copied into the manifest beside the hash and the measured accuracies."""
    out_dir = Path(out_dir)
    weights = out_dir / f"{name}.pt"
    sha = write_fp16_weights(checkpoint, weights)
    manifest = {"name": name, "file": weights.name, "sha256": sha, "bytes": weights.stat().st_size,
                "dtype": "float16", "architecture": "ResNet18, CIFAR stem (3x3 conv, max-pool kept), width 64, "
                "normalisation inside the model (inputs in [0,1])",
                "accuracy_of_shipped_fp16_file": evaluate_shipped(weights, test_sets), **about}
    atomic_write_json(out_dir / f"{name}.json", manifest)
    return manifest
