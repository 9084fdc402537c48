"""APGD against values known independently: the paper's checkpoint formula, hand-computed DLR values, and a
linear model whose worst case in the ε-ball is known in closed form; plus the attack contract."""

import math

import pytest
import torch
import torch.nn as nn

from tests.robust.helpers import synthetic_data, trained_tiny_model
from vaeadv.robust.autopgd import apgd, apgd_targeted, ce_loss, checkpoints, dlr_loss, strong_attack
from vaeadv.robust.evaluate import AttackSpec, robust_accuracy

EPS = 0.05


def paper_checkpoints(n: int) -> list[int]:
    """w_j = ⌈p_j·N⌉, p_0 = 0, p_1 = 0.22, p_(j+1) = p_j + max(p_j − p_(j−1) − 0.03, 0.06) (paper, Sec. 3.2)."""
    p_prev, p, out = 0.0, 0.22, []
    while math.ceil(p * n - 1e-9) <= n:
        out.append(math.ceil(p * n - 1e-9))
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return out


@pytest.mark.parametrize("n", [100, 200, 1000])
def test_checkpoints_follow_the_papers_formula(n):
    assert checkpoints(n) == paper_checkpoints(n)


def test_checkpoints_for_100_iterations_by_hand():
    # intervals 22, 19, 16, 13, 10, 7, then the floor of 6
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_checkpoints_for_20_iterations_by_hand():
    # ⌊0.22·20⌋ = 4, then intervals shrink by max(⌊0.6⌋, 1) = 1 down to max(⌊1.2⌋, 1) = 1: 3, 2, then 1 each;
    # the last checkpoint is the 20th iteration itself
    assert checkpoints(20) == [4, 7, 9, *range(10, 21)]
    assert checkpoints(3) == [1, 2, 3]  # ⌊0.66⌋ = 0 is raised to 1


def test_apgd_defaults_are_the_authors_iterations_and_the_cheap_three_targets():
    """Counted in forward passes on an image no attack can flip, so a default is seen by what it does."""
    class Counted(nn.Module):
        calls = 0

        def forward(self, x):
            Counted.calls += 1
            return x.flatten(1) * 10

    x, y = torch.tensor([0.9, 0.1, 0.1, 0.1, 0.1]).view(1, 1, 1, 5), torch.tensor([0])

    def passes(attack, **settings):
        Counted.calls = 0
        attack(Counted(), x, y, 0.01, generator=torch.Generator().manual_seed(0), **settings)
        return Counted.calls

    assert passes(apgd) == passes(apgd, steps=100) == 1 + 100  # the start, then one per iteration
    assert passes(apgd_targeted) == passes(apgd_targeted, steps=100, targets=3, loss="dlr") == 1 + 3 * 101


def test_dlr_by_hand_and_invariant_to_shift_and_scale():
    z = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    assert dlr_loss(z, torch.tensor([0])).item() == pytest.approx(-(3 - 2) / (3 - 1))  # y on top: vs 2nd
    assert dlr_loss(z, torch.tensor([2])).item() == pytest.approx(-(2 - 3) / (3 - 1))  # y below the top
    targeted = dlr_loss(z, torch.tensor([0]), torch.tensor([3])).item()
    assert targeted == pytest.approx(-(3 - 0) / (3 - (1 + 0) / 2))
    assert dlr_loss(7 * z - 4, torch.tensor([2])).item() == pytest.approx(dlr_loss(z, torch.tensor([2])).item())
    with pytest.raises(ValueError, match="at least 3 classes"):
        dlr_loss(torch.zeros(1, 2), torch.tensor([0]))
    with pytest.raises(ValueError, match="^the DLR loss needs at least 4 classes, the model has 3$"):
        dlr_loss(torch.zeros(1, 3), torch.tensor([0]), torch.tensor([1]))  # targeted: the 4th-largest logit
    # z_π3 + z_π4 ≠ 1, so halving their sum is not dividing a half by it: −(5 − 0) / (5 − (3 + 2)/2) = −2
    assert dlr_loss(torch.tensor([[5.0, 4.0, 3.0, 2.0, 0.0]]), torch.tensor([0]), torch.tensor([4])).item() == \
        pytest.approx(-2.0)


def test_dlr_with_tied_top_logits_is_large_and_positive_not_a_division_by_zero():
    """The 1e-12 keeps a zero denominator (the top three or four logits tied) finite and of the numerator's sign:
    a label below the tie is far from winning, so its loss is +(1 − 0)/1e-12."""
    assert dlr_loss(torch.tensor([[1.0, 1.0, 1.0, 0.0]]), torch.tensor([3])).item() == pytest.approx(1e12)
    tied_four = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    assert dlr_loss(tied_four, torch.tensor([4]), torch.tensor([0])).item() == pytest.approx(1e12)


def test_targeted_cross_entropy_is_the_log_probability_of_the_target():
    z = torch.tensor([[2.0, 0.0, -1.0]])
    log_p = [v - math.log(sum(math.exp(u) for u in (2.0, 0.0, -1.0))) for v in (2.0, 0.0, -1.0)]
    assert ce_loss(z, torch.tensor([0])).item() == pytest.approx(-log_p[0])
    assert ce_loss(z, torch.tensor([0]), torch.tensor([2])).item() == pytest.approx(log_p[2])  # maximised: to 2
    both = ce_loss(z.repeat(2, 1), torch.tensor([0, 0]), torch.tensor([2, 1]))  # one value per image
    assert both.tolist() == pytest.approx([log_p[2], log_p[1]])


class LinearTwoWay(nn.Module):
    """Logits W·x + b over 4 classes; classes 2 and 3 are never competitive (bias −100), so classes 0 and 1 decide
    and the worst point of the ε-ball (away from the [0,1] edges) is x − ε·sign(w_y − w_other), in closed form."""

    def __init__(self, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(2, 3 * 4 * 4, generator=g) * 0.05)
        self.bias = nn.Parameter(torch.tensor([0.0, 0.0]))

    def forward(self, x):
        two = x.flatten(1) @ self.w.T + self.bias
        return torch.cat([two, torch.full((len(x), 1), -100.0), torch.full((len(x), 1), -101.0)], dim=1)


def _linear_case(n=64):
    model = LinearTwoWay()
    g = torch.Generator().manual_seed(1)
    x = 0.1 + 0.8 * torch.rand(n, 3, 4, 4, generator=g)  # ε away from the edges: no clamping
    with torch.no_grad():
        y = model(x)[:, :2].argmax(1)
        diff = (model.w[0] - model.w[1]).view(1, 3, 4, 4)
        direction = torch.where(y.view(-1, 1, 1, 1) == 0, -diff.sign(), diff.sign())  # lowers y's margin
        worst = x + EPS * direction
        flippable = model(worst)[:, :2].argmax(1) != y
        margin = (model(worst)[:, 0] - model(worst)[:, 1]).abs()
    keep = margin > 1e-3  # nothing sits on the boundary, where float noise could decide
    return model, x[keep], y[keep], worst[keep], flippable[keep]


@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_on_a_linear_model_apgd_finds_exactly_the_flippable_images_and_the_worst_corner(loss):
    model, x, y, worst, flippable = _linear_case()
    assert 0 < int(flippable.sum()) < len(x)  # both kinds are present
    adv = apgd(model, x, y, EPS, steps=20, loss=loss, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        flipped = model(adv).argmax(1) != y
    assert torch.equal(flipped, flippable)
    # the images that cannot be flipped end at the loss maximum: the corner
    assert torch.allclose(adv[~flippable], worst[~flippable], atol=1e-6)


def test_targeted_apgd_moves_to_the_target():
    model, x, y, _, flippable = _linear_case()
    adv = apgd_targeted(model, x, y, EPS, steps=20, targets=1, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = model(adv).argmax(1)
    assert torch.equal(pred != y, flippable) and bool((pred[flippable] == 1 - y[flippable]).all())


def test_contract_bounds_mode_and_no_parameter_gradients():
    model = trained_tiny_model()
    x, y = synthetic_data(48, seed=3)
    model.train()
    eps = torch.tensor([0.02, 0.04, 0.03])  # per channel
    for adv in (apgd(model, x, y, eps, steps=10), apgd(model, x, y, eps, steps=10, loss="dlr", restarts=2),
                apgd_targeted(model, x, y, eps, steps=10, targets=2)):
        assert bool((adv >= 0).all() and (adv <= 1).all())
        assert bool(((adv - x).abs() <= eps.view(1, 3, 1, 1) + 1e-6).all())
    assert model.training and all(p.grad is None for p in model.parameters())
    assert torch.equal(apgd(model, x, y, 0.0, steps=5), x)  # ε = 0: nothing moves


def test_bad_arguments_are_value_errors():
    model = trained_tiny_model()
    x, y = synthetic_data(4)
    with pytest.raises(ValueError, match="steps and restarts"):
        apgd(model, x, y, EPS, steps=0)
    with pytest.raises(ValueError, match="unknown APGD loss"):
        apgd(model, x, y, EPS, loss="mse")
    with pytest.raises(ValueError, match="targets must be"):
        apgd_targeted(model, x, y, EPS, targets=10)
    with pytest.raises(ValueError, match=r"^eps must be finite and >= 0, got -0.1$"):
        apgd_targeted(model, x, y, -0.1)
    with pytest.raises(ValueError, match="NaN"):
        apgd(model, x.clone().fill_(float("nan")), y, EPS)
    with pytest.raises(ValueError, match="labels must be <"):
        apgd(model, x, torch.full_like(y, 10), EPS)


class Counting(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.sizes = inner, []

    def forward(self, x):
        self.sizes.append(len(x))
        return self.inner(x)


def test_a_misclassified_image_stops_costing_anything():
    model, x, y, _, flippable = _linear_case()
    spy = Counting(model)
    apgd(spy, x, y, EPS, steps=20, generator=torch.Generator().manual_seed(0))
    # the start sees every image (a few flippable ones already fall there); the first step reaches the corner,
    # where every flippable image falls; the 19 further steps cost only the others
    assert spy.sizes[0] == len(x) and len(x) >= spy.sizes[1] > int((~flippable).sum())
    assert set(spy.sizes[2:]) == {int((~flippable).sum())} and len(spy.sizes) == 21


def test_strong_is_apgd_ce_then_apgd_t_and_never_weaker():
    model = trained_tiny_model()
    x, y = synthetic_data(96, seed=5)
    eps = 0.03
    ce = apgd(model, x, y, eps, steps=10, generator=torch.Generator().manual_seed(0))
    strong = strong_attack(model, x, y, eps, steps=10, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        survive_ce, survive_strong = model(ce).argmax(1) == y, model(strong).argmax(1) == y
    assert bool((survive_strong <= survive_ce).all())  # the same APGD-CE run, then more
    specs = [AttackSpec("apgd-ce", eps, steps=10), AttackSpec("strong", eps, steps=10, targets=2)]
    r = robust_accuracy(model, x, y, specs)
    assert r["robust_accuracy"][specs[1].label] <= r["robust_accuracy"][specs[0].label] <= r["clean_accuracy"]


def test_strong_attack_is_apgd_ce_then_apgd_t_on_the_survivors(monkeypatch):
    """Recomposed by hand from the two attacks with the same generator stream: APGD-CE on all images, then
    APGD-T (3 target classes by default, the given steps) on those still classified correctly."""
    import vaeadv.robust.autopgd as ev

    model = trained_tiny_model()
    x, y = synthetic_data(64, seed=11)
    got = strong_attack(model, x, y, 0.02, steps=6, generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    expected = apgd(model, x, y, 0.02, steps=6, generator=g)
    with torch.no_grad():
        alive = (model(expected).argmax(1) == y).nonzero().flatten()
    assert 0 < len(alive) < len(y)  # both stages have work to do
    expected[alive] = apgd_targeted(model, x[alive], y[alive], 0.02, steps=6, targets=3, generator=g)
    assert torch.equal(got, expected)
    seen = []
    real = ev.apgd_targeted
    monkeypatch.setattr(ev, "apgd_targeted", lambda *a, **k: seen.append(k["targets"]) or real(*a, **k))
    strong_attack(model, x, y, 0.02, steps=6)
    assert seen == [3]


class PeakedLoss(nn.Module):
    """One pixel in, two logits out: [0, −5 − 100·(x − 0.53)²]. Class 0 always wins (the image is never fooled,
    so no early exit), and the cross-entropy of class 0 rises as x nears 0.53: its gradient's sign is
    sign(0.53 − x). Every input the attack evaluates is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []
        self.dummy = nn.Parameter(torch.zeros(()))  # a parameter, so the model has a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x.detach().flatten().tolist()
        z1 = -5 - 100 * (x.flatten(1)[:, :1] - 0.53) ** 2
        return torch.cat([torch.zeros_like(z1), z1], 1) + 0 * self.dummy


# APGD on x0 = 0.5, ε = 0.1 (the ball is [0.4, 0.6]), 10 iterations: checkpoints after every step from the 2nd
# (first interval ⌊0.22·10⌋ = 2, then 1). Step η starts at 2ε; a step is z = P(x + η·sign g), then
# x ← P(x + a·(z − x) + (1 − a)·(x − x_prev)) with a = 1 at the first step and 0.75 after (momentum). At a
# checkpoint η halves where the loss rose in ≤ 75% of the steps since the last one (or, not halved last time, the
# best loss did not improve), and x restarts from the best point. From the random start at the upper edge, by hand:
#   start 0.6 (one pixel: the random start is ±ε)
#   1: z = 0.4, a = 1 → 0.4                                       (loss falls)
#   2: z = 0.6 → 0.4 + 0.75·0.2 + 0.25·(0.4 − 0.6) = 0.5           (rises; best) check: 1 rise ≤ 1.5 → η = ε, x = 0.5
#   3: z = 0.6 → 0.5 + 0.75·0.1 + 0.25·(0.5 − 0.4) = 0.6           (falls) check: 0 ≤ 0.75 → η = ε/2, back to 0.5
#   4: z = 0.55 → 0.5 + 0.75·0.05 + 0.25·(0.5 − 0.5) = 0.5375      (rises; best) check: 1 rise > 0.75 → keep η
#   5: z = 0.5375 − 0.05 = 0.4875 → 0.5375 − 0.0375 + 0.25·0.0375 = 0.509375   (falls) check: 0 rises → η = ε/4,
#      back to 0.5375
#   6: z = 0.5125 → 0.5375 − 0.01875 + 0.25·(0.5375 − 0.509375) = 0.51875 ...
# and from the lower edge by the same rules. The later iterates continue the same arithmetic.
FROM_UPPER = [0.6, 0.4, 0.5, 0.6, 0.5375, 0.509375, 0.51875, 0.5328125, 0.517578125, 0.5234375, 0.53046875]
FROM_LOWER = [0.4, 0.6, 0.5, 0.55, 0.45, 0.475, 0.53125, 0.4703125, 0.49375, 0.521875, 0.521875]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_apgd_trajectory_by_hand_momentum_halving_and_restart_from_the_best_point(seed):
    model = PeakedLoss()
    x0, y = torch.full((1, 1, 1, 1), 0.5), torch.tensor([0])
    upper = float(torch.rand((1, 1, 1, 1), generator=torch.Generator().manual_seed(seed))) > 0.5
    out = apgd(model, x0, y, 0.1, steps=10, generator=torch.Generator().manual_seed(seed))
    expected = FROM_UPPER if upper else FROM_LOWER
    assert model.seen == pytest.approx(expected, abs=1e-6)
    assert float(out) == pytest.approx(max(expected, key=lambda v: -abs(v - 0.53)), abs=1e-6)  # the best point


class PixelLogits(nn.Module):
    """Logits = the image's pixels (a [B,1,1,4] image is its own 4 logits): the ranking of classes is read off the
    inputs, so which target APGD-T attacks first is known by hand."""

    def forward(self, x):
        return x.flatten(1)


def _scripted_runs(monkeypatch, results):
    """Replace one APGD run by a script: record (images' labels, targets, loss function) of each call, return the
    next result (hit, loss[, move]): found = the images moved by ``move`` (0.01 unless given), fooled = the
    scripted flags, and the scripted loss."""
    import vaeadv.robust.autopgd as autopgd_module

    calls = []

    def run(model, images, labels, eps, steps, lossf, target, generator, with_loss=False):
        calls.append((labels.tolist(), None if target is None else target.tolist(), lossf))
        hit, loss, move = (*results[len(calls) - 1], 0.01)[:3]
        out = (images + move, torch.tensor(hit))
        return (*out, torch.tensor(loss)) if with_loss else out

    monkeypatch.setattr(autopgd_module, "_apgd_run", run)
    return calls


def test_apgd_t_attacks_the_next_ranked_classes_on_the_images_no_earlier_target_flipped(monkeypatch):
    from vaeadv.robust.autopgd import dlr_loss

    x = torch.tensor([[0.9, 0.5, 0.7, 0.1],    # label 0: classes ranked 0, 2, 1, 3
                      [0.2, 0.8, 0.6, 0.4],    # label 1: ranked 1, 2, 3, 0
                      [0.1, 0.9, 0.3, 0.2]]).view(3, 1, 1, 4)  # label 0, but class 1 wins: never attacked
    y = torch.tensor([0, 1, 0])
    calls = _scripted_runs(monkeypatch, [([True, False], None), ([False], None)])
    adv = apgd_targeted(PixelLogits(), x, y, 0.02, targets=2)
    # rank 2 for images 0 and 1 (class 2 both); image 0 flipped, so rank 3 (class 3) for image 1 alone
    assert [(labels, targets) for labels, targets, _ in calls] == [([0, 1], [2, 2]), ([1], [3])]
    assert all(lossf is dlr_loss for _, _, lossf in calls)  # the targeted DLR loss by default
    assert torch.equal(adv[0], x[0] + 0.01) and torch.equal(adv[1:], x[1:])  # only a flip is kept


def test_apgd_restarts_only_the_images_no_restart_has_fooled(monkeypatch):
    x = torch.full((3, 1, 1, 4), 0.5)
    y = torch.tensor([0, 1, 2])
    calls = _scripted_runs(monkeypatch, [([False, False, True], [1.0, 2.0, 0.5]),  # image 2 fooled at once
                                         ([False, False], [3.0, 2.0]),  # image 0 higher, image 1 a tie
                                         ([True, False], [0.1, 9.0])])  # image 0 fooled: kept though lower
    apgd(PixelLogits(), x, y, 0.05, restarts=3)
    assert [labels for labels, _, _ in calls] == [[0, 1, 2], [0, 1], [0, 1]]  # a fooled image is not restarted
    assert all(target is None for _, target, _ in calls)  # untargeted


def test_a_tie_in_loss_keeps_the_earlier_restarts_point_and_all_fooled_ends_the_restarts(monkeypatch):
    x = torch.full((2, 1, 1, 4), 0.5)
    y = torch.tensor([0, 1])
    calls = _scripted_runs(monkeypatch, [([False, False], [1.0, 2.0], 0.01), ([False, True], [1.0, 2.0], 0.02),
                                         ([True], [0.0], 0.03)])
    adv = apgd(PixelLogits(), x, y, 0.05, restarts=5)
    # after restart 3 nothing is left: restarts 4 and 5 do not run
    assert [labels for labels, _, _ in calls] == [[0, 1], [0, 1], [0]]
    assert torch.allclose(adv[0], x[0] + 0.03)  # fooled in restart 3
    assert torch.allclose(adv[1], x[1] + 0.02)  # fooled in restart 2 (same loss as restart 1: the flip decides)


@pytest.mark.parametrize("second_loss, kept", [(1.5, 0.02), (1.0, 0.01), (0.5, 0.01)])
def test_an_unfooled_image_keeps_the_restart_of_highest_loss_and_a_tie_keeps_the_earlier(monkeypatch, second_loss,
                                                                                          kept):
    _scripted_runs(monkeypatch, [([False], [1.0], 0.01), ([False], [second_loss], 0.02)])
    x = torch.full((1, 1, 1, 4), 0.5)
    assert torch.allclose(apgd(PixelLogits(), x, torch.tensor([0]), 0.05, restarts=2), x + kept)


def test_the_random_start_is_a_uniform_draw_scaled_per_image_to_the_balls_edge():
    from vaeadv.robust.autopgd import _random_start

    x = torch.full((2, 1, 2, 3), 0.5)
    e = torch.tensor(0.1)
    start = _random_start(x, e, torch.Generator().manual_seed(7))
    t = torch.rand(x.shape, generator=torch.Generator().manual_seed(7)) * 2 - 1
    by_hand = torch.stack([0.5 + 0.1 * t[i] / t[i].abs().max() for i in range(2)])  # each image its own max
    assert torch.allclose(start, by_hand)


def test_apgd_settings_one_step_works_and_a_bad_loss_or_eps_is_named():
    model = PixelLogits()
    x, y = torch.full((1, 1, 1, 4), 0.5), torch.tensor([0])
    assert apgd(model, x, y, 0.05, steps=1).shape == x.shape
    with pytest.raises(ValueError, match=r"^unknown APGD loss 'mse' \(use ce, dlr\)$"):
        apgd(model, x, y, 0.05, loss="mse")
    with pytest.raises(ValueError, match=r"^eps must be finite and >= 0, got -0.1$"):
        apgd(model, x, y, -0.1)
    with pytest.raises(ValueError, match=r"^targets must be 1\.\.3 for a 4-class model, got 4$"):
        apgd_targeted(model, x, y, 0.05, targets=4)


def test_a_targeted_run_hands_each_images_own_target_to_the_loss_also_after_others_drop_out():
    from vaeadv.robust.autopgd import _apgd_run, ce_loss

    seen = []

    def loss(logits, labels, target):
        seen.append(None if target is None else target.tolist())
        return ce_loss(logits, labels)

    x = torch.tensor([[0.1, 0.9, 0.1, 0.1],  # misclassified from the start: recorded, then no longer attacked
                      [0.9, 0.1, 0.1, 0.1]]).view(2, 1, 1, 4)  # out of reach at ε = 0.05: attacked to the end
    _apgd_run(PixelLogits(), x, torch.tensor([0, 0]), 0.05, 3, loss, torch.tensor([2, 3]), torch.Generator())
    assert seen == [[2, 3], [3], [3], [3]]  # the start, then three steps on the one image left


def test_a_loss_that_only_ties_never_improves_so_the_start_is_returned():
    """A tie is not an improvement: with a loss whose value never changes (its gradient still moves the point),
    the best point stays the random start, which is what an unfooled image gets back."""
    from vaeadv.robust.autopgd import _apgd_run, _random_start

    def flat(logits, labels, target):
        return logits[:, 0] - logits[:, 0].detach() + 1.0  # value 1 everywhere, gradient along pixel 0

    x = torch.tensor([0.9, 0.1, 0.1, 0.1]).view(1, 1, 1, 4)  # class 0 beyond the reach of ε = 0.05
    found, fooled = _apgd_run(PixelLogits(), x, torch.tensor([0]), 0.05, 5, flat, None,
                              torch.Generator().manual_seed(3))
    start = _random_start(x, torch.tensor(0.05), torch.Generator().manual_seed(3))
    assert not fooled.item() and torch.equal(found, start)
