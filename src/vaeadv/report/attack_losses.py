"""The attack-loss table: the masking diagnosis (``vaeadv.robust.diagnose``: FGSM and PGD-10 with each attack loss,
PGD from random starts, APGD-CE+T, PGD at large ε, and the checks' verdict) of the shipped standard model, beside the
committed diagnoses of its ablations, files that differ in one training setting and whose weights left the package
(the label-smoothed file). The same attacks on the same images make it the controlled comparison of that setting."""

from __future__ import annotations

import json
from pathlib import Path

from vaeadv.io import atomic_write_json
from vaeadv.registry import manifest, weights_sha256
from vaeadv.report.context import Context, NeedsTraining
from vaeadv.report.robust_experiments import attack_images
from vaeadv.robust.diagnose import LARGE_EPS, diagnose, standard_budgets
from vaeadv.robust.masking import RESTARTS
from vaeadv.robust.models import load_classifier

LARGE_EPS_255 = [round(255 * e) for e in LARGE_EPS]  # as a diagnosis records them


def committed_diagnosis(folders, match) -> dict | None:
    """The first ``diagnosis.json`` under ``folders`` that ``match`` accepts."""
    for folder in folders:
        for path in sorted(Path(folder).glob("**/diagnosis.json")):
            try:
                found = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(found, dict) and match(found):
                return found
    return None


def shipped_label(name: str) -> str:
    """The shipped file's label in the table, naming the settings its ablations differ in (label smoothing, epochs),
    as its manifest states them."""
    found = manifest(name)
    settings = found.get("recipe_settings") or {}
    said = ([f"label smoothing {settings['label_smoothing']:g}"] if "label_smoothing" in settings else []) + (
        [f"{found['epochs']} epochs"] if found.get("epochs") else [])
    return f"{name} (shipped" + (": " + ", ".join(said) if said else "") + ")"


def attack_losses(ctx: Context) -> dict:
    """The shipped standard model's diagnosis (a committed one of the very file, images and settings is reused) and
    the committed ablations the scale names, on the run matrix's attacked images."""
    s = ctx.scale
    x, y, which, _ = attack_images(ctx)
    name = s.shipped_standard()
    if name is None:
        raise NeedsTraining("the scale's run matrix loads no shipped standard model to diagnose")
    sha = weights_sha256(name)

    def same_attacks(found: dict) -> bool:
        return (found.get("evaluated_on") == which and found.get("steps") == s.pgd_steps
                and found.get("restarts") == RESTARTS and found.get("large_eps_255") == LARGE_EPS_255)

    # measured here before (kept in the report folder), or committed for the very file
    mine = ctx.out / "diagnosis" / name
    shipped = committed_diagnosis([mine, *ctx.reuse], lambda f: f.get("weights_sha256") == sha and same_attacks(f))
    if shipped is None:
        ctx.log(f"diagnosing {name} on the {which}")
        measured = diagnose(load_classifier(name), x, y, standard_budgets(s.pgd_steps), steps=s.pgd_steps)
        shipped = {**measured, "weights_sha256": sha, "evaluated_on": which}
        atomic_write_json(mine / "diagnosis.json", shipped)
    models = [{**shipped, "label": shipped_label(name)}]
    missing = []
    for label, folder in s.ablation_diagnoses:
        found = committed_diagnosis([Path(d) / folder for d in ctx.reuse], same_attacks)
        if found is None:
            missing.append(f"{label} ({folder}/diagnosis.json, measured on the {which})")
        else:
            models.append({**found, "label": label, "folder": folder})
    keep = ("label", "folder", "weights_sha256", "clean_accuracy", "intervals", "per_eps", "attack_seconds",
            "large_eps_255")
    pair = [next((m["label"] for m in models if m.get("folder") == f), None) for f in s.smoothing_pair]
    return {"evaluated_on": which, "images": len(x), "steps": s.pgd_steps, "restarts": RESTARTS,
            "models": [{k: m.get(k) for k in keep} for m in models], "missing": missing,
            "smoothing_pair": pair if pair and None not in pair else None,
            "smoothing_pair_folders": list(s.smoothing_pair)}
