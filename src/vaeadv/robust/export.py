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
    history = _history(out_dir / f"{name}.json", sha)
    if history:
        manifest["history"] = history
    atomic_write_json(out_dir / f"{name}.json", manifest)
    return manifest


def _history(manifest_path: Path, sha256: str) -> list[dict]:
    """The files shipped under this name before, newest last: a replaced file's hash, command and accuracies stay
    on record, so what was measured on it can still be traced to it."""
    try:
        earlier = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return []
    history = list(earlier.get("history", []))
    if earlier.get("sha256") not in (None, sha256):
        history.append({key: earlier.get(key) for key in ("sha256", "command", "epochs", "train_seconds",
                                                           "accuracy_of_shipped_fp16_file")})
    return history


TRAINING_BUDGET_KEYS = ("units", "fgsm_eps", "fgsm_alpha", "pgd_eps", "pgd_alpha", "pgd_steps", "pgd_random_start")
RECIPE_OVERRIDES = ("epochs", "batch_size", "lr", "val_from", "precision", "label_smoothing")  # config beats recipe


def recipe_settings(config: dict) -> dict:
    """Every setting of the recipe a run trained with, as it ran: the recipe's values with the run's explicit
    ones over them (a recipe's defaults may change; the manifest keeps what this file saw)."""
    from dataclasses import asdict

    from vaeadv.robust.config import upgrade_config
    from vaeadv.robust.recipes import get_recipe

    config = upgrade_config(config)
    settings = asdict(get_recipe(config["recipe"]))
    settings.update({k: config[k] for k in RECIPE_OVERRIDES if config.get(k) is not None})
    return settings


def export_run(checkpoint: str | Path, out_dir: str | Path, name: str, robustness_files: list[str | Path], *,
               command_of, data_dir: str | None = None, download: bool = True) -> dict:
    """``vaeadv robust export``: a checkpoint of a finished ``robust train`` run → shipped weights whose manifest
    states the run (its recipe's every setting, the command that reproduces it — ``command_of(config)`` — seed,
    epochs, time, hardware, hold-out accuracy) and the accuracy of the fp16 file on the exact and all test images."""
    from vaeadv.io import read_json
    from vaeadv.robust.datamodule import CifarDataModule
    from vaeadv.runinfo import hardware

    results_file = Path(checkpoint).parent.parent / "results.json"
    if not results_file.is_file():
        raise VaeadvError(f"{results_file} not found: export takes a checkpoint inside a finished "
                          "'vaeadv robust train' run folder (its results.json names the recipe and accuracy).")
    run = read_json(results_file, "a training run's results")
    robustness = {Path(path).name: read_json(path, "attack results") for path in robustness_files}
    dm = CifarDataModule(data_dir, val_from="train", download=download)
    dm.setup()
    x, y, which = dm.exact_test()
    config = run["config"]
    about = {"defense": run.get("defense", "standard"), "recipe": config["recipe"],
             "recipe_settings": recipe_settings(config), "command": command_of(config), "seed": config["seed"],
             "epochs": run["epochs"], "train_images": run["train_images"], "train_seconds": run["train_seconds"],
             "trained_on": run.get("hardware", hardware()),
             "holdout_accuracy": run.get("clean_eval", {}).get("holdout"), "versions": run.get("versions"),
             "test_sets": {"exact": f"CIFAR-10 {which}: {len(x)}", "test": f"all {len(dm.x_test)} CIFAR-10 test "
                           "images as found (JPEG-decoded where the data says so)"}, "data": dm.source}
    if about["defense"] != "standard":
        about["training_budget"] = {key: config.get(key) for key in TRAINING_BUDGET_KEYS}
    if "overfit_guard" in run:
        about["overfit_guard"] = run["overfit_guard"]
    return export_weights(checkpoint, out_dir, name, {"exact": (x, y), "test": (dm.x_test, dm.y_test)}, about,
                          robustness)
