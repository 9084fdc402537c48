"""Turn a trained checkpoint into shipped weights: an fp16 state dict, its SHA-256 and a manifest whose
accuracies were measured on the reloaded fp16 file (so the published numbers are those of what ships)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch

from vaeadv.checkpoints import load_checkpoint
from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write_bytes, atomic_write_json
from vaeadv.robust.evaluate import clean_scores
from vaeadv.robust.models import load_classifier, network_state


def half_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors to fp16 (about 22 MB for the width-64 ResNet18, half the fp32 file); integer buffers such
    as BatchNorm's ``num_batches_tracked`` unchanged."""
    return {k: v.detach().to(torch.float16) if v.is_floating_point() else v.detach() for k, v in state.items()}


def fp16_weights_bytes(checkpoint: str | Path) -> bytes:
    """The network of ``checkpoint`` as a serialised fp16 state dict (deterministic: the same checkpoint always
    gives the same bytes, hence the same SHA-256)."""
    buffer = io.BytesIO()
    torch.save(half_state(network_state(load_checkpoint(checkpoint, "ResNet18"))), buffer)
    return buffer.getvalue()


def evaluate_shipped(path: str | Path, test_sets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, dict]:
    """Accuracy (Wilson 95% CI) of the reloaded file on each named test set, plain and with flip TTA, in fp32
    (one pass per set gives both)."""
    model = load_classifier(path)
    results = {}
    for name, (x, y) in test_sets.items():
        scores = clean_scores(model, x, y, {})
        results[name], results[f"{name}_flip_tta"] = scores["all"], scores["all_flip_tta"]
    return results


ROBUSTNESS_KEYS = ("evaluated_on", "units", "clean_accuracy", "robust_accuracy", "intervals", "attack_seconds")


def robustness_entry(attack_result: dict, sha256: str, source: str = "attack results") -> dict:
    """The part of a ``vaeadv robust attack`` result that a manifest keeps, refused unless the attack ran on
    exactly the shipped file (its recorded ``weights_sha256``): a manifest states only what its file measured."""
    measured = attack_result.get("weights_sha256")
    if measured != sha256:
        raise VaeadvError(f"{source}: measured on weights with SHA-256 {measured or 'not recorded'}, not on the "
                          f"exported file ({sha256}); attack the exported weights by name first "
                          "('vaeadv robust attack NAME ...'), then export again with --robustness.")
    return {key: attack_result[key] for key in ROBUSTNESS_KEYS if key in attack_result}


def _measured_before(manifest_path: Path, sha256: str, test_sets: dict) -> dict | None:
    """The accuracies an earlier export measured on exactly these bytes (same SHA-256, same test sets), so that
    exporting again to attach robustness results does not score the same file twice."""
    try:
        earlier = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None
    measured = earlier.get("accuracy_of_shipped_fp16_file") or {}
    wanted = {key for name in test_sets for key in (name, f"{name}_flip_tta")}
    return measured if earlier.get("sha256") == sha256 and set(measured) == wanted else None


def export_weights(checkpoint: str | Path, out_dir: str | Path, name: str,
                   test_sets: dict[str, tuple[torch.Tensor, torch.Tensor]], about: dict,
                   robustness: dict[str, dict] | None = None) -> dict:
    """``out_dir/NAME.pt`` + ``out_dir/NAME.json``; ``about`` (recipe, command, seed, wall time, hardware,
    versions...) is copied into the manifest beside the hash and the measured accuracies; ``robustness`` maps a
    source name to a ``vaeadv robust attack`` result measured on this very file (checked by its hash)."""
    out_dir = Path(out_dir)
    weights = out_dir / f"{name}.pt"
    data = fp16_weights_bytes(checkpoint)
    sha = hashlib.sha256(data).hexdigest()
    kept = [robustness_entry(r, sha, source) for source, r in (robustness or {}).items()]  # refuse before writing
    atomic_write_bytes(weights, data)
    manifest = {"name": name, "file": weights.name, "sha256": sha, "bytes": weights.stat().st_size,
                "dtype": "float16", "architecture": "ResNet18, CIFAR stem (3x3 conv, max-pool kept), width 64, "
                "normalisation inside the model (inputs in [0,1])",
                "accuracy_of_shipped_fp16_file": _measured_before(out_dir / f"{name}.json", sha, test_sets)
                or evaluate_shipped(weights, test_sets), **about}
    if kept:
        manifest["robustness_of_shipped_fp16_file"] = kept
    atomic_write_json(out_dir / f"{name}.json", manifest)
    return manifest
