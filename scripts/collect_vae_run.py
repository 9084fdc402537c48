"""Copy a finished VAE run's results into docs/results/<name>/: results.json (history completed from the
run's TensorBoard events where the checkpointed history is missing epochs), the bpd curves and the sample
grids. Usage: python scripts/collect_vae_run.py RUN_DIR OUT_DIR [evaluation.json]
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vaeadv.io import atomic_write_json
from vaeadv.vae.viz import plot_bpd_curves

KEYS = ("train_bpd", "val_bpd", "train_ELBO", "val_ELBO", "train_reconstruction_loss", "val_reconstruction_loss",
        "train_regularization_loss", "val_regularization_loss")


def tensorboard_history(tb_dir: Path) -> dict[int, dict[str, float]]:
    """epoch → scalars, from every event file (later files win: they come from resumed runs)."""
    epochs: dict[int, dict[str, float]] = {}
    for events in sorted(tb_dir.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        tags = acc.Tags()["scalars"]
        if "epoch" not in tags:
            continue
        step_to_epoch = {e.step: int(e.value) + 1 for e in acc.Scalars("epoch")}
        for key in KEYS:
            if key in tags:
                for e in acc.Scalars(key):
                    if e.step in step_to_epoch:
                        epochs.setdefault(step_to_epoch[e.step], {})[key] = e.value
    return epochs


def main(run_dir: str, out_dir: str, evaluation: str | None = None) -> None:
    run, out = Path(run_dir), Path(out_dir)
    results = json.loads((run / "results.json").read_text())
    have = {h["epoch"] for h in results["history"]}
    recovered = {e: m for e, m in tensorboard_history(run / "tensorboard").items() if e not in have}
    history = sorted(results["history"] + [{"epoch": e, **m} for e, m in recovered.items()], key=lambda h: h["epoch"])
    results["history"] = history
    results["final_train_bpd"] = history[-1].get("train_bpd") if history else None
    results["history_note"] = (f"epochs {sorted(recovered)} recovered from TensorBoard events"
                               if recovered else "complete from the checkpointed history")
    if evaluation:
        results["evaluation"] = json.loads(Path(evaluation).read_text())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", results)
    plot_bpd_curves(history, out / "bpd_curves.png", f"{run.name}\ntest bpd {results['test_bpd']:.4f}")
    for png in sorted(run.glob("epoch_*_samples.png")) + sorted(run.glob("vae_manifold.png")):
        shutil.copy(png, out / png.name)
    print(f"{out}: {len(history)} epochs, test bpd {results['test_bpd']:.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
