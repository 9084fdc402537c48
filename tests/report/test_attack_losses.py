"""The attack-loss table: the shipped standard model's diagnosis, reused where committed for the very file, beside
the committed ablations; rendered per ε with the verdicts, and read by Q2.1."""

import json
from dataclasses import replace

import pytest
import torch

from tests.report.helpers import newcombe
from vaeadv.registry import weights_sha256
from vaeadv.report import attack_losses as al
from vaeadv.report.answers import answers
from vaeadv.report.context import Context
from vaeadv.report.document import to_markdown
from vaeadv.report.render import build
from vaeadv.report.scales import SCALES

WHICH = "first 4 test images with exact pixels"
SCALE = replace(SCALES["real"], ablation_diagnoses=(("smoothed", "diagnosis/ls"),))


CLEAN = {"fgsm": 0.1, "pgd": 0.02, "pgd_restarts": 0.01, "pgd_margin": 0.02, "apgd": 0.0, "largest_eps": 0.0}
# restarts 15 points below PGD-10 (c) and APGD 19 points below the restarts (d): both fail
MASKED = {"fgsm": 0.5, "pgd": 0.35, "pgd_restarts": 0.2, "pgd_margin": 0.22, "apgd": 0.01, "largest_eps": 0.02}


def _diagnosis(sha, fgsm, apgd, verdict, accuracies=None, **extra):
    keys = {f"{eps} {a}": v for eps in ("0.1 (norm.)", "8/255") for a, v in (("fgsm-ce", fgsm), ("apgd-ce+t", apgd))}
    keys["pgd@64/255"] = 0.0
    return {"weights_sha256": sha, "evaluated_on": WHICH, "steps": 10, "restarts": 5, "clean_accuracy": 0.9,
            "large_eps_255": [16, 32, 64],
            "intervals": {"clean": {"accuracy": 0.9, "ci95_low": 0.8, "ci95_high": 0.95},
                          **{k: {"accuracy": v, "ci95_low": v / 2, "ci95_high": v + 0.01} for k, v in keys.items()}},
            "per_eps": {eps: {"verdict": verdict, "accuracies": accuracies or CLEAN}
                        for eps in ("0.1 (norm.)", "8/255")}, **extra}


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    monkeypatch.setattr(al, "attack_images", lambda ctx: (torch.zeros(4, 3, 32, 32), torch.zeros(4, dtype=int),
                                                          WHICH, []))
    return Context(tmp_path / "report", SCALE, reuse=(tmp_path / "committed",))


def _commit(ctx, folder, diagnosis):
    path = ctx.reuse[0] / folder / "diagnosis.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(diagnosis))


def test_a_committed_diagnosis_of_the_very_shipped_file_is_reused_and_the_ablation_sits_beside_it(ctx, monkeypatch):
    monkeypatch.setattr(al, "diagnose", lambda *a, **k: pytest.fail("measured again"))
    sha = weights_sha256("vaeadv-resnet18")
    _commit(ctx, "diagnosis/shipped", _diagnosis(sha, 0.1, 0.0, "stale wording one"))
    _commit(ctx, "diagnosis/ls", _diagnosis("0" * 64, 0.5, 0.01, "stale wording two", MASKED, label="other"))
    _commit(ctx, "diagnosis/a_fewer_eps", _diagnosis(sha, 0.9, 0.9, "other attacks", large_eps_255=[16]))  # found first
    r = al.attack_losses(ctx)
    # the shipped file's manifest: plain cross-entropy, 45 epochs (the settings its ablation differs in)
    assert [m["label"] for m in r["models"]] == ["vaeadv-resnet18 (shipped: label smoothing 0, 45 epochs)",
                                                 "smoothed"] and r["missing"] == []
    assert r["models"][0]["weights_sha256"] == sha and r["images"] == 4
    md = to_markdown(build({"attack_losses": r}, SCALE, {}), ctx.out)
    assert "attack at ε = 0.1 (norm.)" in md and "attack at ε = 8/255" in md
    # the plain PGD's step is named per ε: the template's α = ε/10 at its ε, α = 2.5ε/10 at 8/255 (diagnose's)
    at_norm, at_pixel = md.split("attack at ε = 8/255")
    assert "| PGD-10 (the template's: α = ε/10, no random start), cross-entropy |" in at_norm
    assert "| PGD-10 (α = 2.5ε/10, no random start), cross-entropy |" in at_pixel and "α = ε/10," not in at_pixel
    # the verdicts are today's, read off the stored accuracies, not the stored text
    assert "stale wording" not in md and "| verdict of the masking checks | no sign of masking: all four checks pass" \
        in md and ("| gradient masking possible, not resolved on 4 images (each masking check past its threshold has "
                   "an interval reaching back below it): (c) PGD from 5 random starts leaves 15.0 points") in md
    assert "not resolved on 4 images" in md  # on 4 images every gap's interval reaches past its threshold
    assert "50.0% [25.0, 51.0]" in md and "| 64/255 | 0.0% [0.0, 1.0] |" in md
    q21 = dict(answers({"attack_losses": r}))["Q2.1 (accuracies)."]
    assert "FGSM (cross-entropy) 10.0% against 50.0%" in q21 and "APGD-CE+T 0.0% against 1.0%" in q21
    assert "which difference causes the gap is not tested here" in q21


def test_a_diagnosis_of_another_file_or_images_is_not_reused_and_a_missing_ablation_is_listed(ctx, monkeypatch):
    _commit(ctx, "diagnosis/old", _diagnosis("f" * 64, 0.5, 0.0, "old file"))  # another file under the name
    calls = []
    monkeypatch.setattr(al, "load_classifier", lambda name: name)
    monkeypatch.setattr(al, "diagnose", lambda model, x, y, budgets, steps: calls.append((model, len(x), steps))
                        or _diagnosis(None, 0.2, 0.0, "measured now"))
    r = al.attack_losses(ctx)
    assert calls == [("vaeadv-resnet18", 4, 10)]
    assert al.attack_losses(ctx)["models"] == r["models"] and len(calls) == 1  # kept in the report folder: reused
    assert r["models"][0]["weights_sha256"] == weights_sha256("vaeadv-resnet18")
    assert len(r["models"]) == 1
    assert r["missing"] == [f"smoothed (diagnosis/ls/diagnosis.json, measured on the {WHICH})"]
    assert "Q2.1 (accuracies)." in dict(answers({"attack_losses": r}))  # one model: no comparison claimed


def test_only_the_scales_that_diagnose_have_the_table_and_it_is_keyed_by_the_shipped_file():
    assert "attack_losses" in SCALES["real"].experiments() and "attack_losses" not in SCALES["cpu"].experiments()
    assert SCALES["real"].shipped_weights("attack_losses") == ["vaeadv-resnet18"]
    assert SCALES["real"].shipped_standard() == "vaeadv-resnet18" and SCALES["cpu"].shipped_standard() is None


def test_the_controlled_pair_is_read_as_what_label_smoothing_alone_does(ctx):
    ablations = (("smoothed", "diagnosis/ls"), ("ce 8", "diagnosis/p0"), ("ls 8", "diagnosis/p1"))
    pair = replace(SCALE, ablation_diagnoses=ablations, smoothing_pair=("diagnosis/p0", "diagnosis/p1"))
    ctx = Context(ctx.out, pair, reuse=ctx.reuse)
    sha = weights_sha256("vaeadv-resnet18")
    _commit(ctx, "diagnosis/shipped", _diagnosis(sha, 0.1, 0.0, "x"))
    _commit(ctx, "diagnosis/ls", _diagnosis("0" * 64, 0.5, 0.01, "x", MASKED))
    r_without = al.attack_losses(ctx)
    assert r_without["smoothing_pair"] is None  # the pair's diagnoses are not committed yet
    assert "which difference causes the gap is not tested here" in dict(answers({"attack_losses": r_without}))[
        "Q2.1 (accuracies)."]
    _commit(ctx, "diagnosis/p0", _diagnosis("1" * 64, 0.25, 0.0, "x"))
    _commit(ctx, "diagnosis/p1", _diagnosis("2" * 64, 0.75, 0.0, "x", MASKED))
    r = al.attack_losses(ctx)
    assert r["smoothing_pair"] == ["ce 8", "ls 8"] and [m["label"] for m in r["models"]][2:] == ["ce 8", "ls 8"]
    q21 = dict(answers({"attack_losses": r}))["Q2.1 (accuracies)."]
    assert "the controlled pair (the table's two models marked \"the controlled pair\": the same recipe" in q21
    # 1 of 4 → 3 of 4 images under FGSM: +50 points; APGD 0 → 0
    d, low, high = newcombe(3, 4, 1, 4)
    assert f"FGSM (cross-entropy) 25.0% → 75.0% ({100 * d:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}])" in q21
    assert "APGD-CE+T 0.0% → 0.0% (+0.0 points" in q21
    # on 4 images the masking call is not resolved, and the answer does not call the pair evidence
    assert "label smoothing alone turns the verdict to suspected masking, but not resolved on these images" in q21
    assert "controlled evidence" not in q21
    # on 1,000 images the same gaps (15 and 19 points) are resolved: then the pair is the evidence
    from vaeadv.report.answers_robust import _smoothing_pair

    assert "this pair is the controlled evidence that it masks" in _smoothing_pair(
        [m for m in r["models"] if m["label"] in ("ce 8", "ls 8")], 1000, None)
    assert "which difference causes the gap is not tested here" not in q21
    # 4 images: +50 points lies within Newcombe's interval, so no attack is said to be moved
    assert low < 0 and "label smoothing alone moved no attack's accuracy beyond its 95% interval" in q21


def test_a_pair_whose_verdict_does_not_turn_leaves_the_longer_files_masking_unexplained(ctx):
    ablations = (("smoothed", "diagnosis/ls"), ("ce 8", "diagnosis/p0"), ("ls 8", "diagnosis/p1"))
    pair = replace(SCALE, ablation_diagnoses=ablations, smoothing_pair=("diagnosis/p0", "diagnosis/p1"))
    ctx = Context(ctx.out, pair, reuse=ctx.reuse)
    _commit(ctx, "diagnosis/shipped", _diagnosis(weights_sha256("vaeadv-resnet18"), 0.1, 0.0, "x"))
    _commit(ctx, "diagnosis/ls", _diagnosis("0" * 64, 0.5, 0.01, "x", MASKED))
    # 0 of 4 → 4 of 4 under FGSM: Newcombe's interval clears 0; APGD 1 of 4 → 0 of 4 does not; neither is masked
    _commit(ctx, "diagnosis/p0", _diagnosis("1" * 64, 0.0, 0.25, "x"))
    _commit(ctx, "diagnosis/p1", _diagnosis("2" * 64, 1.0, 0.0, "x"))
    assert newcombe(4, 4, 0, 4)[1] > 0 and newcombe(0, 4, 1, 4)[2] > 0
    q21 = dict(answers({"attack_losses": al.attack_losses(ctx)}))["Q2.1 (accuracies)."]
    assert ("label smoothing alone raised the accuracy under FGSM (cross-entropy) (95% interval above 0);" in q21)
    assert "; under APGD-CE+T the interval holds 0;" in q21  # the attack it did not move is said beside it
    assert ("the verdict does not change with label smoothing alone, so the failed checks of smoothed are not "
            "explained by label smoothing alone at this length") in q21
