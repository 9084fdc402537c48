"""The masking diagnosis of one model: which attacks it runs (their settings written out here), how their
accuracies feed the checks, and one real run on a tiny model."""

import pytest

from tests.robust.helpers import synthetic_data, trained_tiny_model
from vaeadv.robust import diagnose as dg
from vaeadv.robust.diagnose import Budget, diagnosis_attacks, read_checks


def test_the_attacks_of_the_diagnosis_and_their_settings():
    specs = {s.name: s for s in diagnosis_attacks([Budget("b", 0.04, 0.004)], steps=10, restarts=5,
                                                  large_eps=(32 / 255, 64 / 255))}
    assert sorted(specs) == sorted(["b fgsm-ce", "b fgsm-nll", "b fgsm-margin", "b pgd-ce", "b pgd-nll",
                                    "b pgd-margin", "b pgd-restarts", "b apgd-ce+t", "pgd@32/255", "pgd@64/255"])
    assert specs["b pgd-margin"].loss == "margin" and specs["b pgd-margin"].alpha == 0.004  # the template's α
    assert specs["b fgsm-nll"].kind == "fgsm" and specs["b fgsm-nll"].loss == "nll"
    restarts = specs["b pgd-restarts"]
    assert restarts.random_start and restarts.restarts == 5 and restarts.alpha == pytest.approx(0.01)  # 2.5ε/10
    assert specs["b apgd-ce+t"].kind == "strong" and specs["b apgd-ce+t"].steps == 0  # the authors' 100
    assert specs["pgd@64/255"].eps == 64 / 255 and specs["pgd@64/255"].alpha == pytest.approx(2.5 * 64 / 255 / 10)
    per_channel = diagnosis_attacks([Budget("c", [0.02, 0.04, 0.06], [0.002, 0.004, 0.006])], steps=10,
                                    large_eps=())
    assert next(s for s in per_channel if s.name == "c pgd-restarts").alpha == pytest.approx([0.005, 0.01, 0.015])


def test_the_checks_read_the_right_columns():
    acc = {"b fgsm-ce": 0.5, "b fgsm-nll": 0.55, "b pgd-ce": 0.3, "b pgd-nll": 0.35, "b pgd-margin": 0.2,
           "b pgd-restarts": 0.28, "b apgd-ce+t": 0.01, "pgd@64/255": 0.0, "pgd@32/255": 0.07, "other pgd-ce": 0.9}
    got = read_checks(acc, "b", large_eps=(32 / 255, 64 / 255))
    assert (got.fgsm, got.pgd, got.pgd_restarts, got.pgd_margin, got.apgd, got.largest_eps) == (
        0.5, 0.3, 0.28, 0.2, 0.01, 0.0)


def test_a_diagnosis_reports_every_attack_and_a_verdict_per_eps(monkeypatch):
    model = trained_tiny_model()
    x, y = synthetic_data(24, seed=3)
    seen = []
    real = dg.robust_accuracy
    monkeypatch.setattr(dg, "robust_accuracy", lambda *a, **k: seen.append(k) or real(*a, **k))
    r = dg.diagnose(model, x, y, [Budget("b", 0.03, 0.003)], steps=3, restarts=2, large_eps=(0.5,))
    assert seen[0]["keep_examples"] == 0 and r["images"] == 24
    assert set(r["intervals"]) == {"clean", "b fgsm-ce", "b fgsm-nll", "b fgsm-margin", "b pgd-ce", "b pgd-nll",
                                   "b pgd-margin", "b pgd-restarts", "b apgd-ce+t", "pgd@128/255"}
    entry = r["per_eps"]["b"]
    assert entry["accuracies"]["pgd"] == r["intervals"]["b pgd-ce"]["accuracy"]
    assert entry["accuracies"]["largest_eps"] == r["intervals"]["pgd@128/255"]["accuracy"]
    assert entry["checks"]["b_large_eps_reaches_zero"] is (entry["accuracies"]["largest_eps"] <= 0.02)
    assert isinstance(entry["verdict"], str) and entry["verdict"]
    # the stronger attacks never leave more than the template's: APGD-CE+T ≤ clean, PGD at ε=0.5 ≤ PGD at 0.03
    assert entry["accuracies"]["apgd"] <= r["clean_accuracy"]
