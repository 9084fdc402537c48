"""The run-matrix readings that the report's text draws from hand-made results: gradient masking flagged where
PGD-10 stays far above AutoAttack-lite, and the Q2.3 answer that quotes it."""

from vaeadv.report.answers import answers, masking_gaps
from vaeadv.report.robust_experiments import _attacks, _config, model_name
from vaeadv.report.scales import SCALES, CifarModel


def _row(model, defense, robust, augment=True, clean=0.8):
    return {"model": model, "defense": defense, "augment": augment, "clean_accuracy": clean,
            "robust_accuracy": robust}


MATRIX = {"rows": [
    _row("std", "standard", {"PGD ε=8/255": 0.232, "APGD-CE+T ε=8/255": 0.0, "PGD ε=0.1 (norm.)": 0.278,
                             "APGD-CE+T ε=0.1 (norm.)": 0.0}),
    _row("fast", "fgsm-rs", {"PGD ε=8/255": 0.47, "APGD-CE+T ε=8/255": 0.43}, clean=0.81),
    _row("edge", "pgd", {"PGD ε=8/255": 0.30, "APGD-CE+T ε=8/255": 0.20}),  # exactly 10 points: not flagged
    _row("old", "fgsm", {"PGD ε=8/255": 0.30}),  # no strong column: no reading
]}


def test_masking_gaps_flag_pgd_far_above_apgd_and_only_there():
    gaps = {(g["model"], g["eps"]): g for g in masking_gaps(MATRIX)}
    assert set(gaps) == {("std", "0.1 (norm.)"), ("std", "8/255"), ("fast", "8/255"), ("edge", "8/255")}
    assert abs(gaps["std", "8/255"]["gap"] - 0.232) < 1e-12 and gaps["std", "8/255"]["masked"]
    assert abs(gaps["fast", "8/255"]["gap"] - 0.04) < 1e-12 and not gaps["fast", "8/255"]["masked"]
    assert abs(gaps["edge", "8/255"]["gap"] - 0.10) < 1e-9
    assert masking_gaps(None) == [] and masking_gaps({"rows": [MATRIX["rows"][3]]}) == []


def test_q2_3_quotes_apgd_the_flagged_models_and_the_fast_at_row():
    text = dict(answers({"adversarial_matrix": MATRIX}))["Q2.3 (FGSM vs PGD)."]
    assert "std: 0.0% (PGD 23.2%)" in text and "fast: 43.0% (PGD 47.0%)" in text
    assert "more than 10 points above APGD (std)" in text
    assert "keeps 43.0% under APGD-CE+T at 8/255 with 81.0% clean" in text
    plain = dict(answers({"adversarial_matrix": {"rows": [MATRIX["rows"][3]]}}))["Q2.3 (FGSM vs PGD)."]
    assert "APGD" not in plain


def test_the_strong_column_names_are_those_the_answers_read():
    labels = [a.label for a in _attacks(10, strong_steps=100)]
    assert {"PGD ε=8/255", "APGD-CE+T ε=8/255", "PGD ε=0.1 (norm.)", "APGD-CE+T ε=0.1 (norm.)"} <= set(labels)


def test_a_shipped_defended_model_is_loaded_not_trained(tmp_path):
    real = SCALES["real"]
    shipped = next(m for m in real.matrix_models() if m.load_only)
    assert shipped.defense == "fgsm-rs" and shipped.pretrained == "vaeadv-fast-at"

    class Ctx:
        scale, data_dir, download, progress = real, tmp_path, False, False

    cfg = _config(Ctx, shipped)
    assert cfg.defenses == ("standard",) and cfg.pretrained == "vaeadv-fast-at"  # loads, trains nothing
    assert model_name(shipped) == "fast AT (FGSM from a random start) + augmentation (vaeadv-fast-at)"
    tuned = CifarModel("fgsm", True, recipe="finetune", epochs=5, pretrained="vaeadv-resnet18")
    assert _config(Ctx, tuned).defenses == ("fgsm",) and model_name(tuned).endswith("(from vaeadv-resnet18)")
