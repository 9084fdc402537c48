"""The run matrix as a resumable piece: rows stored as they are measured, models with weights first, and under
``--no-train`` a partial matrix that names what is missing. Training and attacks are replaced by recorders
here (the smoke report in test_report.py runs the real ones); what is checked is which model is evaluated when,
what is stored and what the report then says."""

import json
from dataclasses import asdict, replace

import pytest
import torch

from vaeadv.report import robust_experiments as rx
from vaeadv.report import run as report_run
from vaeadv.report.context import Context, NeedsTraining
from vaeadv.report.render import build
from vaeadv.report.scales import SCALES, CifarModel
from vaeadv.report.store import ResultStore

MODELS = (CifarModel("standard", True), CifarModel("fgsm", True, epochs=5), CifarModel("pgd", True, epochs=2))
SCALE = replace(SCALES["smoke"], name="unit", cifar_models=MODELS, strong_steps=0)
WHICH = "first 4 test images with exact pixels"


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A report folder whose models are 'trained' when listed in ``lab.weights``; records every evaluation."""

    class Lab:
        weights: set[str] = set()
        evaluated: list[str] = []
        trained: list[str] = []

    def trained(ctx, cfg, *, may_train=True):
        defense = cfg.defenses[0]
        if defense not in Lab.weights:
            if not (may_train and ctx.train):
                return None
            Lab.trained.append(defense)
            Lab.weights.add(defense)
        return {"config": {"recipe": cfg.recipe}, "epochs": cfg.epochs, "best_checkpoint": f"{defense}.ckpt",
                "clean_test_accuracy": 0.8, "test_images": 200, "seconds_per_epoch": 1.0, "data": "fake"}

    def robust_accuracy(model, x, y, attacks, keep_examples=0):
        Lab.evaluated.append(model)
        return {"clean_accuracy": 0.75, "robust_accuracy": {a.label: 0.25 for a in attacks}, "examples": {}}

    monkeypatch.setattr(rx, "_trained", trained)
    monkeypatch.setattr(rx, "_classifier", lambda ctx, run: run["best_checkpoint"].removesuffix(".ckpt"))
    monkeypatch.setattr(rx, "robust_accuracy", robust_accuracy)
    monkeypatch.setattr(rx, "attack_images", lambda ctx: (torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=int),
                                                           WHICH, ["c"] * 10))
    monkeypatch.setattr(rx, "save_overview", lambda *a, **k: None)
    Lab.ctx = Context(tmp_path / "report", SCALE, train=False, reuse=(tmp_path / "committed",))
    return Lab


def test_models_with_weights_go_first_and_rows_are_kept_between_runs(lab):
    lab.weights = {"pgd", "standard"}
    lab.ctx.train = True
    result = rx.adversarial_matrix(lab.ctx)
    # the ready models are evaluated before the one that had to be trained, whatever the scale's order
    assert lab.evaluated == ["standard", "pgd", "fgsm"] and lab.trained == ["fgsm"]
    assert [r["defense"] for r in result["rows"]] == ["standard", "fgsm", "pgd"] and result["missing"] == []
    stored = sorted(p.name for p in (lab.ctx.out / "results" / "matrix_rows").iterdir())
    assert len(stored) == 3
    lab.evaluated.clear()
    again = rx.adversarial_matrix(lab.ctx)  # e.g. resumed after an interruption: nothing measured twice
    assert lab.evaluated == [] and again["rows"] == result["rows"]


def test_no_train_leaves_out_what_needs_training_and_says_so(lab):
    lab.weights = {"standard"}
    result = rx.adversarial_matrix(lab.ctx)
    assert lab.trained == [] and [r["defense"] for r in result["rows"]] == ["standard"]
    assert result["missing"] == [rx.model_name(m) for m in MODELS[1:]]
    assert result["wall_seconds"] == result["rows"][0]["eval_seconds"]
    md = "\n".join(str(b) for b in build({"adversarial_matrix": result}, SCALE, {}).blocks)
    assert "not yet in this matrix" in md and rx.model_name(MODELS[2]) in md


def test_a_run_without_its_weights_gives_the_columns_it_measured(lab):
    """docs/results keeps some runs without checkpoints: their training-time FGSM/PGD (same images, same
    settings) fill those two columns, marked, and the model still counts as missing for the full matrix."""
    lab.weights = {"standard"}
    cfg = rx._named(lab.ctx, rx._config(lab.ctx, MODELS[1]))
    run = lab.ctx.reuse[0] / "fgsm_run"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({
        "config": asdict(cfg), "epochs": 5, "best_checkpoint": "gone.ckpt", "clean_test_accuracy": 0.85,
        "test_images": 10000, "seconds_per_epoch": 900.0, "train_seconds": 4500.0,
        "attack_eval": {"images": 4, "which": "test images with exact pixels", "clean_accuracy": 0.75,
                        "robust_accuracy": {"fgsm": 0.5, "pgd": 0.25}, "units": "normalized"}}))
    result = rx.adversarial_matrix(lab.ctx)
    fgsm = result["rows"][1]
    assert fgsm["defense"] == "fgsm" and fgsm["partial"] and fgsm["checkpoint"] is None
    assert fgsm["robust_accuracy"] == {"FGSM ε=0.1 (norm.)": 0.5, "PGD ε=0.1 (norm.)": 0.25}
    assert fgsm["clean_accuracy"] == 0.75 and fgsm["clean_test_accuracy"] == 0.85
    assert rx.model_name(MODELS[1]) in result["missing"]
    assert not ResultStore(lab.ctx.out / "results" / "matrix_rows").path(cfg.run_name).exists()  # not kept
    table = build({"adversarial_matrix": result}, SCALE, {}).blocks
    md = "\n".join(str(b) for b in table)
    assert "weights not kept" in md and "50.0%" in md and "† " in md
    # measured elsewhere (other images): not used
    saved = json.loads((run / "results.json").read_text())
    saved["attack_eval"]["images"] = 1000
    (run / "results.json").write_text(json.dumps(saved))
    assert [r["defense"] for r in rx.adversarial_matrix(lab.ctx)["rows"]] == ["standard"]


def test_without_a_standard_model_the_matrix_is_left_out_not_stored(lab, monkeypatch):
    lab.weights = {"pgd"}
    with pytest.raises(NeedsTraining):
        rx.adversarial_matrix(lab.ctx)
    monkeypatch.setattr(report_run, "EXPERIMENTS", {"adversarial_matrix": rx.adversarial_matrix})
    assert report_run.run_experiments(lab.ctx) == {}
    assert report_run.load_results(lab.ctx)["adversarial_matrix"] is None


def test_a_partial_matrix_is_run_again_until_complete(lab, monkeypatch):
    monkeypatch.setattr(report_run, "EXPERIMENTS", {"adversarial_matrix": rx.adversarial_matrix})
    lab.weights = {"standard"}
    report_run.run_experiments(lab.ctx)
    assert report_run.load_results(lab.ctx)["adversarial_matrix"]["missing"]
    lab.ctx.train = True  # the next full run trains the rest and measures only those
    lab.evaluated.clear()
    report_run.run_experiments(lab.ctx)
    assert lab.evaluated == ["fgsm", "pgd"]
    assert report_run.load_results(lab.ctx)["adversarial_matrix"]["missing"] == []
    assert report_run.run_experiments(lab.ctx) == {}  # complete: reused


def test_trained_returns_none_instead_of_training_under_no_train(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rx, "train_defenses", lambda cfg: calls.append(cfg) or [{
        "run_dir": str(tmp_path), "epochs": 0, "best_checkpoint": "vaeadv-resnet18"}])
    ctx = Context(tmp_path / "r", SCALES["real"], train=False)
    assert rx._trained(ctx, rx._config(ctx, CifarModel("standard", False))) is None and calls == []
    # shipped weights are only loaded (no training), so they are evaluated under --no-train as well
    shipped = rx._trained(ctx, rx._config(ctx, SCALES["real"].matrix_models()[0]))
    assert len(calls) == 1 and shipped["best_checkpoint"] == "vaeadv-resnet18"


def test_curves_are_kept_per_model_and_a_model_without_weights_is_listed(lab, monkeypatch):
    drawn = []
    monkeypatch.setattr(rx, "accuracy_vs_eps", lambda model, x, y, kind, eps, **k: drawn.append((model, kind)) or [
        {"eps": e, "accuracy": 1.0 - e} for e in eps])
    monkeypatch.setattr(rx, "_plot_curves", lambda curves, path: path)
    lab.weights = {"standard", "pgd"}
    first = rx.robustness_curves(lab.ctx)
    assert sorted({m for m, _ in drawn}) == ["pgd", "standard"] and len(drawn) == 6  # noise, fgsm, pgd each
    assert list(first["curves"]) == ["standard", "pgd"] and first["missing"] == [rx.DEFENSE_NAMES["fgsm"]]
    assert set(first["cost"]) == {"fgsm", "pgd"} and lab.evaluated == ["standard", "standard"]  # cost: standard
    drawn.clear()
    lab.weights.add("fgsm")  # trained meanwhile: only its curves are measured now
    second = rx.robustness_curves(lab.ctx)
    assert {m for m, _ in drawn} == {"fgsm"} and list(second["curves"]) == ["standard", "fgsm", "pgd"]
    assert second["missing"] == [] and second["cost"] == first["cost"]
    # each curve names its model as the run matrix does, and the images are counted for the intervals
    assert second["models"] == {m.defense: rx.model_name(m) for m in lab.ctx.scale.curve_models()}
    assert lab.ctx.scale.curve_images >= 4 and second["images"] == 4  # the fixture's 4 attacked images, all drawn
    lab.weights.clear()
    with pytest.raises(NeedsTraining):  # nothing stored for a fresh folder and no standard weights
        rx.robustness_curves(replace(lab.ctx, out=lab.ctx.out.parent / "other"))


def test_the_fine_tuning_control_trains_the_shipped_weights_with_the_standard_objective(tmp_path):
    """The real scale's control: the FGSM defense's fine-tune (recipe, epochs, augmentation, starting weights) with
    the standard objective; the shipped standard model beside it only loads."""
    real = SCALES["real"]
    ctx = Context(tmp_path, real)
    fgsm, control = real.cifar_models[1], real.cifar_models[2]
    a, b = rx._config(ctx, fgsm), rx._config(ctx, control)
    assert b.train_pretrained and not a.train_pretrained and b.defenses == ("standard",)
    assert asdict(replace(a, defenses=("standard",), train_pretrained=True)) == asdict(b)  # only the objective
    assert not rx._just_loads(b) and rx._just_loads(rx._config(ctx, real.cifar_models[0]))
    assert [m.trains() for m in real.cifar_models] == [False] + [True] * 7 + [False]
    assert rx.model_name(control) == "standard fine-tune, 5 epochs + augmentation (from vaeadv-resnet18)"
    assert rx.model_name(real.cifar_models[0]) == "standard + augmentation (vaeadv-resnet18)"
    pgd, pgd_control = rx._config(ctx, real.cifar_models[4]), rx._config(ctx, real.cifar_models[5])
    assert asdict(replace(pgd, defenses=("standard",), train_pretrained=True)) == asdict(pgd_control)  # and its own
    assert rx.model_name(real.cifar_models[5]) == "standard fine-tune, 2 epochs + augmentation (from vaeadv-resnet18)"
    pair = [rx._config(ctx, m) for m in real.cifar_models[6:8]]
    assert [c.augment for c in pair] == [False, True] and all(c.cutout == 0 for c in pair)
    assert asdict(replace(pair[0], augment=True)) == asdict(pair[1])


def test_a_column_added_since_a_row_was_stored_is_the_only_one_measured(lab, monkeypatch):
    """Rows stored before a column existed gain it alone (one attack run, not the row's every attack); a row
    whose stored columns were measured with other settings, or whose clean accuracy is not reproduced, is
    measured whole again."""
    lab.weights = {"standard", "fgsm", "pgd"}
    full = rx._attacks(SCALE.pgd_steps)
    calls = []
    monkeypatch.setattr(rx, "robust_accuracy", lambda model, x, y, attacks, keep_examples=0: calls.append(
        [a.label for a in attacks]) or {"clean_accuracy": 0.75, "robust_accuracy": {a.label: 0.25 for a in attacks},
                                        "examples": {}})
    monkeypatch.setattr(rx, "_attacks", lambda steps, strong=0: [a for a in full if a.label != rx.FGSM_NLL_KEY])
    before = rx.adversarial_matrix(lab.ctx)
    assert all(rx.FGSM_NLL_KEY not in c for c in calls) and len(calls) == 3
    calls.clear()
    monkeypatch.setattr(rx, "_attacks", lambda steps, strong=0: full)
    after = rx.adversarial_matrix(lab.ctx)
    assert calls == [[rx.FGSM_NLL_KEY]] * 3
    assert [list(r["robust_accuracy"]) for r in after["rows"]] == [[a.label for a in full]] * 3
    assert [r["clean_accuracy"] for r in after["rows"]] == [r["clean_accuracy"] for r in before["rows"]]
    calls.clear()
    assert rx.adversarial_matrix(lab.ctx)["rows"] == after["rows"] and calls == []  # now complete: nothing runs
    changed = [replace(a, steps=a.steps + 1) if a.kind == "pgd" else a for a in full]
    monkeypatch.setattr(rx, "_attacks", lambda steps, strong=0: changed)
    rx.adversarial_matrix(lab.ctx)
    assert calls == [[a.label for a in changed]] * 3  # a column's settings changed: every column again


def test_a_row_extended_on_another_device_is_measured_whole_if_its_clean_accuracy_moved(lab, monkeypatch):
    lab.weights = {"standard", "fgsm", "pgd"}
    full = rx._attacks(SCALE.pgd_steps)
    monkeypatch.setattr(rx, "_attacks", lambda steps, strong=0: full[:-1])
    rx.adversarial_matrix(lab.ctx)
    calls = []
    monkeypatch.setattr(rx, "robust_accuracy", lambda model, x, y, attacks, keep_examples=0: calls.append(
        len(attacks)) or {"clean_accuracy": 0.5, "robust_accuracy": {a.label: 0.1 for a in attacks}, "examples": {}})
    monkeypatch.setattr(rx, "_attacks", lambda steps, strong=0: full)
    rows = rx.adversarial_matrix(lab.ctx)["rows"]
    assert calls == [1, len(full)] * 3 and all(r["clean_accuracy"] == 0.5 for r in rows)
    assert all(set(r["robust_accuracy"].values()) == {0.1} for r in rows)
