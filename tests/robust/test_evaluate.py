import pytest
import torch
import torch.nn.functional as F

from tests.robust.helpers import LeftHalf, one_at_a_time_accuracy, synthetic_data, trained_tiny_model
from vaeadv.robust.evaluate import (
    AttackSpec,
    accuracy_vs_eps,
    robust_accuracy,
    transfer_accuracy,
)


@pytest.fixture(scope="module")
def tiny():
    return trained_tiny_model(), *synthetic_data(96, seed=7)


@pytest.mark.parametrize("spec", [AttackSpec("fgsm", 0.03), AttackSpec("pgd", 0.03, 0.01, 5),
                                  AttackSpec("fgsm", 0.03, loss="nll")])
def test_batched_counts_equal_one_at_a_time(tiny, spec):
    model, x, y = tiny
    batched = robust_accuracy(model, x, y, [spec], batch_size=32)
    clean, robust = one_at_a_time_accuracy(model, x, y, spec)
    assert batched["clean_accuracy"] == clean
    assert batched["robust_accuracy"][spec.label] == robust
    assert 0 < robust < clean  # the attack does something, but not everything


def test_evaluation_runs_in_full_fp32_and_restores_tf32(tiny, monkeypatch):
    """TF32 makes sign-gradient outcomes batch-size dependent on a GPU: both evaluations switch it off."""
    model, x, y = tiny
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, inputs):
            seen.append(torch.backends.cudnn.allow_tf32)
            return model(inputs)

    spy = Spy()
    robust_accuracy(spy, x[:8], y[:8], [AttackSpec("fgsm", 0.03)], device="cpu")
    one_at_a_time_accuracy(spy, x[:2], y[:2], AttackSpec("fgsm", 0.03))
    assert seen and not any(seen)
    assert torch.backends.cudnn.allow_tf32 is True


def test_accounting_and_examples(tiny):
    model, x, y = tiny
    r = robust_accuracy(model, x, y, [AttackSpec("fgsm", 0.05, name="f")], batch_size=40, keep_examples=3)
    assert r["robust_accuracy"]["f"] <= r["clean_accuracy"]
    exs = r["examples"]["f"]
    assert len(exs) == 3 and [e.index for e in exs] == sorted(e.index for e in exs)
    for e in exs:
        assert e.clean_pred == e.label != e.adv_pred
        assert (e.adversarial - e.original).abs().max() <= 0.05 + 1e-6
        with torch.no_grad():
            assert model(e.adversarial[None]).argmax(1).item() == e.adv_pred


def test_uint8_input_and_misclassified_not_attacked(tiny):
    model, x, y = tiny
    x8 = (x * 255).round().to(torch.uint8)
    wrong_labels = (y + 1) % 10  # now nearly everything is misclassified
    r = robust_accuracy(model, x8, wrong_labels, [AttackSpec("pgd", 0.03, 0.01, 3)])
    assert r["robust_accuracy"]["pgd(eps=0.03,steps=3)"] <= r["clean_accuracy"] < 0.2


def test_eps_curve_monotone_and_noise_baseline(tiny):
    model, x, y = tiny
    curve = accuracy_vs_eps(model, x, y, "fgsm", [0.0, 0.01, 0.03, 0.1])
    accs = [c["accuracy"] for c in curve]
    assert accs[0] == robust_accuracy(model, x, y, [])["clean_accuracy"]
    assert accs[-1] < accs[0]
    noise = robust_accuracy(model, x, y, [AttackSpec("noise", 0.03, name="n"), AttackSpec("fgsm", 0.03, name="f")])
    assert noise["robust_accuracy"]["n"] > noise["robust_accuracy"]["f"]


def test_transfer_between_models(tiny):
    model, x, y = tiny
    other = trained_tiny_model(seed=3)
    r = transfer_accuracy(model, other, x, y, AttackSpec("pgd", 0.1, 0.02, 5))
    with torch.no_grad():
        clean_other = (other(x).argmax(1) == y).float().mean().item()
    assert r["clean_accuracy"] == pytest.approx(clean_other)
    assert r["adversarial_accuracy"] < r["clean_accuracy"]


def test_loss_nll_is_negative_true_logit():
    from vaeadv.robust.attacks import loss_function

    logits = torch.tensor([[1.0, 3.0], [0.5, -2.0]])
    y = torch.tensor([1, 0])
    assert loss_function("nll")(logits, y).item() == pytest.approx(-3.5)
    assert loss_function("ce")(logits, y).item() == pytest.approx(F.cross_entropy(logits, y, reduction="sum").item())


def test_results_carry_wilson_intervals_and_each_attacks_time(tiny):
    from vaeadv.stats import wilson_interval

    model, x, y = tiny
    spec = AttackSpec("pgd", 0.03, 0.01, 3, name="p")
    r = robust_accuracy(model, x, y, [spec])
    n = len(x)
    ci = r["intervals"]["p"]
    assert ci["n"] == n and ci["correct"] == round(r["robust_accuracy"]["p"] * n)
    assert (ci["ci95_low"], ci["ci95_high"]) == wilson_interval(ci["correct"], n)
    assert r["intervals"]["clean"]["correct"] == round(r["clean_accuracy"] * n)
    assert r["attack_seconds"]["p"] > 0


def test_eps_curve_asks_for_the_templates_pgd_at_each_eps(tiny, monkeypatch):
    """What the curve requests: one attack per ε with α = 0.1·ε and 10 steps by default (the template's PGD ratio),
    the caller's batch size, no kept examples; and one row per ε in order."""
    import vaeadv.robust.evaluate as ev

    model, x, y = tiny
    seen = {}
    real = ev.robust_accuracy

    def spy(*args, **kwargs):
        seen["attacks"], seen["kwargs"] = args[3], kwargs
        return real(*args, **kwargs)

    monkeypatch.setattr(ev, "robust_accuracy", spy)
    rows = accuracy_vs_eps(model, x, y, "pgd", [0.01, 0.05], batch_size=40)
    assert [(a.kind, a.eps, a.alpha, a.steps, a.label) for a in seen["attacks"]] == [
        ("pgd", 0.01, pytest.approx(0.001), 10, "pgd@0.01"), ("pgd", 0.05, pytest.approx(0.005), 10, "pgd@0.05")]
    assert seen["kwargs"] == {"batch_size": 40, "keep_examples": 0}
    assert [r["eps"] for r in rows] == [0.01, 0.05] and rows[0]["accuracy"] >= rows[1]["accuracy"]
    accuracy_vs_eps(model, x, y, "pgd", [0.02])
    assert seen["kwargs"]["batch_size"] == 256 and seen["attacks"][0].steps == 10


def test_transfer_counts_by_hand_over_several_batches(tiny, monkeypatch):
    """Examples crafted on the source for every image (correct or not), shown to each target: the counts are
    recomputed here over the whole set at once, while the function works in batches of 40."""
    import vaeadv.robust.evaluate as ev
    from vaeadv.robust.attacks import fgsm

    model, x, y = tiny
    others = {"a": trained_tiny_model(seed=3), "b": trained_tiny_model(seed=4)}
    spec = AttackSpec("fgsm", 0.05)
    got = ev.transfer_accuracies(model, others, x, y, spec, batch_size=40)
    adv = fgsm(model, x, y, 0.05)
    with torch.no_grad():
        for name, target in others.items():
            assert got[name]["clean_accuracy"] == (target(x).argmax(1) == y).sum().item() / len(y)
            assert got[name]["adversarial_accuracy"] == (target(adv).argmax(1) == y).sum().item() / len(y)
    assert got["a"]["adversarial_accuracy"] < got["a"]["clean_accuracy"]
    seen = {}
    monkeypatch.setattr(ev, "transfer_accuracies", lambda *a, **k: seen.update(k) or {"target": {}})
    transfer_accuracy(model, others["a"], x, y, spec, batch_size=40)
    assert seen == {"batch_size": 40}


def test_clean_accuracy_by_hand_with_and_without_flip_averaging():
    """A linear model that sees the left half of the image only: flipping changes its logits, so plain and
    flip-averaged accuracies are recomputed here from the logits written out."""
    from vaeadv.robust.evaluate import clean_accuracy

    torch.manual_seed(0)
    model = LeftHalf(4, 3 * 8 * 4, 10)
    linear = model.linear
    x = torch.rand(200, 3, 8, 8)
    with torch.no_grad():
        plain = linear(x[..., :4].flatten(1))
        both = (plain + linear(x.flip(-1)[..., :4].flatten(1))) / 2
    y = plain.argmax(1)
    y[:50] = (y[:50] + 1) % 10  # a quarter wrong for the plain logits
    expected_plain = int((plain.argmax(1) == y).sum())
    expected_tta = int((both.argmax(1) == y).sum())
    assert expected_plain == 150 and expected_tta != expected_plain
    assert clean_accuracy(model, x, y, batch_size=64)["correct"] == expected_plain  # plain by default
    assert clean_accuracy(model, x, y, batch_size=64, flip_tta=True)["correct"] == expected_tta


def test_clean_scores_per_subset_skip_only_empty_ones(tiny):
    from vaeadv.robust.evaluate import clean_accuracy, clean_scores

    model, x, y = tiny
    none, one, half = (torch.zeros(len(y), dtype=torch.bool) for _ in range(3))
    one[5] = True
    half[::2] = True
    scores = clean_scores(model, x, y, {"none": none, "one": one, "half": half})
    assert set(scores) == {f"{k}{s}" for k in ("all", "one", "half") for s in ("", "_flip_tta")}
    assert scores["one"]["n"] == 1 and scores["half"] == clean_accuracy(model, x[half], y[half])
    assert scores["all_flip_tta"] == clean_accuracy(model, x, y, flip_tta=True)


class CountingModel(torch.nn.Module):
    """Counts forward passes: what the evaluation computes, not only what it returns."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x):
        self.calls += 1
        return self.model(x)


def test_clean_gradient_is_reused_so_nothing_is_computed_twice(tiny):
    """Per batch, by hand: one clean forward (whose gradient is FGSM's step and PGD's first step), then FGSM needs
    one forward to score, PGD-k k−1 more gradient passes and one to score; a random start or a batch of 32
    changes neither count per batch."""
    model, x, y = tiny
    counting = CountingModel(model)
    robust_accuracy(counting, x, y, [AttackSpec("fgsm", 0.03)], batch_size=32)
    assert counting.calls == 3 * (1 + 1)
    counting.calls = 0
    robust_accuracy(counting, x, y, [AttackSpec("pgd", 0.03, 0.01, 4)], batch_size=32)
    assert counting.calls == 3 * (1 + 3 + 1)
    counting.calls = 0
    robust_accuracy(counting, x, y, [AttackSpec("pgd", 0.03, 0.01, 4, random_start=True)], batch_size=32)
    assert counting.calls == 3 * (1 + 4 + 1)  # the random start has no clean gradient to reuse


def test_two_losses_share_one_forward_and_match_separate_runs(tiny):
    """FGSM on CE and on the true logit's NLL in one call: both gradients come from one clean forward pass and
    give exactly what each attack gives alone."""
    model, x, y = tiny
    ce, nll = AttackSpec("fgsm", 0.05, name="ce"), AttackSpec("fgsm", 0.05, loss="nll", name="nll")
    together = robust_accuracy(model, x, y, [ce, nll], batch_size=40, keep_examples=0)
    for spec in (ce, nll):
        alone = robust_accuracy(model, x, y, [spec], batch_size=40, keep_examples=0)
        assert together["robust_accuracy"][spec.label] == alone["robust_accuracy"][spec.label]
    assert together["robust_accuracy"]["ce"] < together["clean_accuracy"]


def test_random_attacks_follow_the_seed_not_the_global_generator(tiny):
    """Random signs and PGD's random start draw from a generator seeded by ``seed`` (0 by default): the same seed
    gives the same examples whatever the global generator did meanwhile, another seed other examples."""
    model, x, y = tiny
    specs = [AttackSpec("noise", 0.1, name="n"), AttackSpec("pgd", 0.03, 0.01, 2, random_start=True, name="p")]

    def adversarial(**kwargs):
        r = robust_accuracy(model, x, y, specs, keep_examples=96, **kwargs)
        return {k: torch.stack([e.adversarial for e in r["examples"][k]]) for k in ("n", "p")}

    torch.manual_seed(1)
    first = adversarial()
    torch.manual_seed(2)
    again = adversarial(seed=0)
    other = adversarial(seed=1)
    for k in ("n", "p"):
        assert torch.equal(first[k], again[k])
        assert first[k].shape != other[k].shape or not torch.equal(first[k], other[k])


def test_default_keeps_five_examples_and_batch_size_one_works(tiny):
    model, x, y = tiny
    spec = AttackSpec("fgsm", 0.1, name="f")
    r = robust_accuracy(model, x, y, [spec])
    flipped = round((r["clean_accuracy"] - r["robust_accuracy"]["f"]) * len(x))
    assert flipped > 5 and len(r["examples"]["f"]) == 5
    one = robust_accuracy(model, x[:6], y[:6], [spec], batch_size=1)
    assert one["robust_accuracy"] == robust_accuracy(model, x[:6], y[:6], [spec])["robust_accuracy"]
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        robust_accuracy(model, x, y, [spec], batch_size=0)


def test_bad_attack_settings_are_named(tiny):
    model, x, y = tiny
    with pytest.raises(ValueError, match="alpha"):
        robust_accuracy(model, x, y, [AttackSpec("pgd", 0.03, -0.01, 3, name="p")])
    with pytest.raises(ValueError, match=r"unknown attack kind 'cw' \(use fgsm, pgd, noise, apgd-ce"):
        robust_accuracy(model, x, y, [AttackSpec("cw", 0.03)])


def test_a_batch_without_a_correct_image_is_skipped_not_the_end(tiny):
    """The first batch of 32 is relabelled so that the model gets none right: the later batches still count."""
    model, x, y = tiny
    with torch.no_grad():
        pred = model(x).argmax(1)
    y = y.clone()
    y[:32] = (pred[:32] + 1) % 10
    expected_clean = int((pred == y).sum())
    assert expected_clean > 0
    r = robust_accuracy(model, x, y, [AttackSpec("fgsm", 0.03, name="f")], batch_size=32)
    assert r["clean_accuracy"] == expected_clean / len(x)
    assert r["robust_accuracy"]["f"] > 0


def test_attack_seconds_add_up_over_batches(tiny, monkeypatch):
    """A fake clock that advances 0.1237 s per reading: three batches of one attack took 3 × 0.1237 s, reported
    rounded to hundredths."""
    import types

    import vaeadv.robust.evaluate as ev

    ticks = iter(range(1000))
    monkeypatch.setattr(ev, "time", types.SimpleNamespace(perf_counter=lambda: 0.1237 * next(ticks)))
    model, x, y = tiny
    r = robust_accuracy(model, x, y, [AttackSpec("fgsm", 0.03, name="f")], batch_size=32)
    assert r["attack_seconds"] == {"f": 0.37}  # 0.3711


def test_apgd_kinds_ask_for_the_authors_100_steps_unless_given(monkeypatch):
    """What each APGD kind and the strong attack request: the caller's model, images, labels and ε, their loss,
    restarts, targets and generator, and 100 iterations (the authors' budget) when ``steps`` is 0."""
    import vaeadv.robust.autopgd as ev

    seen = []
    for name in ("apgd", "apgd_targeted", "strong_attack"):
        monkeypatch.setattr(ev, name, lambda *a, name=name, **k: seen.append((name, a, k)) or a[1])
    model, g, x, y = torch.nn.Identity(), torch.Generator(), torch.rand(2, 3, 4, 4), torch.zeros(2, dtype=torch.long)
    for spec in (AttackSpec("apgd-ce", 0.03), AttackSpec("apgd-dlr", 0.03, steps=7, restarts=2),
                 AttackSpec("apgd-t", 0.03, targets=5), AttackSpec("strong", 0.05, steps=20, targets=4)):
        assert spec.run(model, x, y, generator=g) is x
    assert [(name, k) for name, _, k in seen] == [
        ("apgd", {"steps": 100, "loss": "ce", "restarts": 1, "generator": g}),
        ("apgd", {"steps": 7, "loss": "dlr", "restarts": 2, "generator": g}),
        ("apgd_targeted", {"steps": 100, "targets": 5, "generator": g}),
        ("strong_attack", {"steps": 20, "targets": 4, "generator": g})]
    for (_, args, _), eps in zip(seen, (0.03, 0.03, 0.03, 0.05), strict=True):
        assert len(args) == 4 and args[0] is model and args[1] is x and args[2] is y and args[3] == eps
    known = r"fgsm, pgd, noise, apgd-ce, apgd-dlr, apgd-t, strong"
    with pytest.raises(ValueError, match=rf"^unknown attack kind 'cw' \(use {known}\)$"):
        AttackSpec("cw", 0.03).run(model, x, y)


def test_uint8_pixels_are_levels_over_255():
    from vaeadv.robust.evaluate import to_unit

    levels = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    assert to_unit(levels).flatten().tolist() == [0.0, pytest.approx(0.2), 1.0]
    floats = torch.tensor([0.25], dtype=torch.float64)
    assert to_unit(floats).dtype == torch.float32 and to_unit(floats).item() == 0.25
