import pytest
import torch
import torch.nn as nn

from tests.robust.helpers import LeftHalf, synthetic_data, trained_tiny_model
from vaeadv.robust.attacks import fgsm, pgd, random_sign_noise


@pytest.fixture(scope="module")
def tiny():
    model = trained_tiny_model()
    x, y = synthetic_data(64, seed=5)
    return model, x, y


def linear_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))


def test_fgsm_on_linear_model_moves_each_pixel_by_eps_against_the_weights():
    model = linear_model()
    x = torch.full((3, 3, 4, 4), 0.5)
    y = torch.zeros(3, dtype=torch.long)
    adv = fgsm(model, x, y, 0.1)
    w = model[1].weight.detach()
    # d CE / dx for label 0 is p1·(w1 − w0): the step follows sign(w1 − w0) on every pixel
    expected = 0.1 * torch.sign(w[1] - w[0]).view(3, 4, 4)
    assert torch.allclose(adv - x, expected.expand_as(x), atol=1e-7)


def test_per_channel_eps_and_clamping():
    model = linear_model()
    x = torch.rand(4, 3, 4, 4)
    eps = torch.tensor([0.0, 0.05, 0.5])
    adv = fgsm(model, x, torch.ones(4, dtype=torch.long), eps)
    assert (adv[:, 0] == x[:, 0]).all()
    assert ((adv[:, 1] - x[:, 1]).abs() <= 0.05 + 1e-6).all()
    assert adv.min() >= 0 and adv.max() <= 1
    # a float64 budget (numpy's default) still returns images of the images' dtype
    assert fgsm(model, x, torch.ones(4, dtype=torch.long), eps.double()).dtype == torch.float32
    assert pgd(model, x, torch.ones(4, dtype=torch.long), eps.double(), eps.double() / 4, 2).dtype == torch.float32
    with pytest.raises(ValueError, match="eps must be finite and >= 0"):  # negative however small (0 in float32)
        fgsm(model, x, torch.ones(4, dtype=torch.long), -1e-50)


def test_invariants_mode_grads_bounds(tiny):
    model, x, y = tiny
    model.train()
    bn_before = model.bn1.running_mean.clone()
    for attack in (lambda: fgsm(model, x, y, 8 / 255),
                   lambda: pgd(model, x, y, 8 / 255, 2 / 255, 5),
                   lambda: pgd(model, x, y, 8 / 255, 2 / 255, 3, random_start=True, restarts=2)):
        adv = attack()
        assert model.training, "train mode must be restored"
        assert all(p.grad is None for p in model.parameters())
        assert not adv.requires_grad and adv.min() >= 0 and adv.max() <= 1
        assert (adv - x).abs().max() <= 8 / 255 + 1e-6
    assert torch.equal(model.bn1.running_mean, bn_before), "attacks must not update BatchNorm statistics"
    model.eval()


def test_eps_zero_is_identity(tiny):
    model, x, y = tiny
    assert torch.equal(fgsm(model, x, y, 0.0), x)
    assert torch.equal(pgd(model, x, y, 0.0, 0.01, 5), x)


def test_pgd_is_stronger_than_fgsm_and_noise_is_weakest(tiny):
    model, x, y = tiny
    eps = 0.03

    def acc(images):
        with torch.no_grad():
            return (model(images).argmax(1) == y).float().mean().item()

    clean = acc(x)
    a_noise = acc(random_sign_noise(x, eps, torch.Generator().manual_seed(0)))
    a_fgsm = acc(fgsm(model, x, y, eps))
    a_pgd = acc(pgd(model, x, y, eps, eps / 4, 10))
    assert clean > 0.6
    assert a_pgd <= a_fgsm + 1e-9 and a_fgsm < a_noise - 0.2  # random signs of the same size barely hurt


def test_pgd_with_given_first_gradient_matches_computed(tiny):
    from vaeadv.robust.attacks import fgsm_unchecked, input_gradient, pgd_unchecked

    model, x, y = tiny
    g, _ = input_gradient(model, x, y)
    assert torch.equal(pgd_unchecked(model, x, y, 0.03, 0.01, 4, random_start=False, restarts=1, loss="ce", grad=g),
                       pgd(model, x, y, 0.03, 0.01, 4))
    assert torch.equal(fgsm_unchecked(model, x, y, 0.03, loss="ce", grad=g), fgsm(model, x, y, 0.03))


def test_restarts_keep_per_sample_worst_case(tiny):
    model, x, y = tiny
    gen = torch.Generator().manual_seed(0)
    one = pgd(model, x, y, 0.02, 0.005, 3, random_start=True, generator=gen)
    many = pgd(model, x, y, 0.02, 0.005, 3, random_start=True, restarts=4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        wrong_one = (model(one).argmax(1) != y).sum()
        wrong_many = (model(many).argmax(1) != y).sum()
    assert wrong_many >= wrong_one


def test_bad_arguments():
    model = linear_model()
    x, y = torch.rand(2, 3, 4, 4), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="restarts >= 1, got steps=3, restarts=0"):
        pgd(model, x, y, 0.1, 0.01, 3, restarts=0)
    with pytest.raises(ValueError, match="steps must be >= 0 .* got steps=-1, restarts=1"):
        pgd(model, x, y, 0.1, 0.01, -1)
    with pytest.raises(ValueError, match="unknown attack loss"):
        fgsm(model, x, y, 0.1, loss="hinge")


@pytest.mark.parametrize("bad,match", [
    (lambda x, y: (x.clone().index_fill_(0, torch.tensor([0]), float("nan")), y, 0.03),
     r"^images contain NaN or infinite pixels$"),
    (lambda x, y: (x * 0 + 1.5, y, 0.03), r"^images must lie in \[0,1\], found values in \[1\.5, 1\.5\]$"),
    (lambda x, y: (x * 0 - 0.25, y, 0.03), r"^images must lie in \[0,1\], found values in \[-0\.25, -0\.25\]$"),
    (lambda x, y: (x, y, -0.01), r"^eps must be finite and >= 0, got -0\.01$"),
    (lambda x, y: (x, y, float("nan")), r"^eps must be finite and >= 0, got nan$"),
    (lambda x, y: (x, y, float("inf")), r"^eps must be finite and >= 0, got inf$"),
    (lambda x, y: (x[:0], y[:0], 0.03), r"^images must be a non-empty \[B,C,H,W\] batch, got shape \(0, 3, 32, 32\)$"),
    (lambda x, y: (x[0], y, 0.03), r"^images must be a non-empty \[B,C,H,W\] batch, got shape \(3, 32, 32\)$"),
    (lambda x, y: (x, y[:-1], 0.03),
     r"^labels must be one integer class per image: got \(63,\) torch\.int64 for 64 images$"),
    (lambda x, y: (x, y[:, None], 0.03),
     r"^labels must be one integer class per image: got \(64, 1\) torch\.int64 for 64 images$"),
    (lambda x, y: (x, y.float(), 0.03),
     r"^labels must be one integer class per image: got \(64,\) torch\.float32 for 64 images$"),
    (lambda x, y: (x, torch.full_like(y, -100), 0.03), r"^labels must be class indices >= 0, found -100$"),
    (lambda x, y: (x, torch.full_like(y, 10), 0.03), r"^labels must be < the model's 10 classes, found 10$"),
    (lambda x, y: ((x * 255).to(torch.uint8), y, 0.03),
     r"^images must be floats in \[0,1\], got torch\.uint8 \(divide uint8 images by 255\)$"),
])
def test_bad_inputs_are_named_before_any_attack_runs(tiny, bad, match):
    model, x, y = tiny
    images, labels, eps = bad(x, y)
    with pytest.raises(ValueError, match=match):
        fgsm(model, images, labels, eps)
    with pytest.raises(ValueError, match=match):
        pgd(model, images, labels, eps, 0.01, 2)


def test_negative_alpha_and_bad_batch_are_refused(tiny):
    from vaeadv.robust.evaluate import AttackSpec, robust_accuracy

    model, x, y = tiny
    with pytest.raises(ValueError, match="alpha must be finite and >= 0"):
        pgd(model, x, y, 0.03, -0.01, 2)
    with pytest.raises(ValueError, match="batch_size"):
        robust_accuracy(model, x, y, [AttackSpec("fgsm", 0.03)], batch_size=0)
    with pytest.raises(ValueError, match="eps must be finite"):
        robust_accuracy(model, x, y, [AttackSpec("fgsm", float("nan"))])
    with pytest.raises(ValueError, match="unknown attack kind"):
        robust_accuracy(model, x, y, [AttackSpec("cw", 0.03)])
    with pytest.raises(ValueError, match="NaN"):
        robust_accuracy(model, torch.full_like(x, float("nan")), y, [AttackSpec("fgsm", 0.03)])
    # uint8 images are the evaluation's native input and stay accepted; ε = 0 is a valid budget
    r = robust_accuracy(model, (x * 255).round().to(torch.uint8), y, [AttackSpec("fgsm", 0.0)])
    assert r["robust_accuracy"]["fgsm(eps=0.0)"] == r["clean_accuracy"]


def test_random_sign_noise_moves_every_pixel_by_exactly_eps_either_way():
    """Q2.1's baseline: each pixel moves by +ε or −ε (clamped to [0,1]), both signs about equally often, drawn
    only from the given generator; the signs follow the images to their device and dtype."""
    x = torch.full((8, 3, 16, 16), 0.5)
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(1)
    untouched = torch.rand(3)  # what the global stream yields next when nobody draws from it
    torch.manual_seed(1)
    noisy = random_sign_noise(x, 0.1, g)
    assert torch.equal(torch.rand(3), untouched)  # the global stream was not used
    step = noisy - x
    assert torch.allclose(step.abs(), torch.full_like(step, 0.1))
    assert 0.45 < (step > 0).float().mean().item() < 0.55
    # the global stream is now elsewhere: only the generator can make the same signs again
    assert torch.equal(random_sign_noise(x, 0.1, torch.Generator().manual_seed(0)), noisy)
    edge = random_sign_noise(torch.tensor([[[[0.0, 1.0]]]]).expand(1, 1, 64, 2).contiguous(), 0.2,
                             torch.Generator().manual_seed(3))
    low, high = edge[..., 0], edge[..., 1]  # at the borders of [0,1] one of the two moves is clamped away
    assert bool(((low == 0) | torch.isclose(low, torch.tensor(0.2))).all() and (low == 0).any())
    assert bool(((high == 1) | torch.isclose(high, torch.tensor(0.8))).all() and (high == 1).any())
    assert random_sign_noise(torch.zeros(2, 3, 4, 4, device="meta"), 0.1).device.type == "meta"


def test_pgd_random_start_is_a_uniform_point_of_the_ball_from_the_given_generator(tiny):
    """With 0 steps PGD returns its start: x + u·ε with u ~ U[−1, 1] drawn from the caller's generator (one
    restart by default), clamped to [0,1]."""
    model, x, y = tiny
    out = pgd(model, x, y, 0.05, 0.01, 0, random_start=True, generator=torch.Generator().manual_seed(9))
    u = torch.rand(x.shape, generator=torch.Generator().manual_seed(9)) * 2 - 1
    assert torch.allclose(out, (x + 0.05 * u).clamp(0, 1), atol=1e-7)
    assert torch.equal(pgd(model, x, y, 0.05, 0.01, 0), x)  # no random start: it starts at x


def test_pgd_climbs_the_loss_it_is_given(tiny):
    """A user loss is followed, not replaced: descending cross-entropy (its negative) makes the model surer."""
    import torch.nn.functional as F

    model, x, y = tiny
    down = pgd(model, x, y, 0.05, 0.01, 5, loss=lambda logits, t: -F.cross_entropy(logits, t, reduction="sum"))
    up = pgd(model, x, y, 0.05, 0.01, 5)
    with torch.no_grad():
        ce = [F.cross_entropy(model(v), y).item() for v in (down, x, up)]
    assert ce[0] < ce[1] < ce[2]


def test_pgd_by_default_is_one_run_of_steps_gradients_and_nothing_more():
    """The template's PGD: one restart, one forward+backward per step, no extra scoring pass (a second restart
    would double the cost and change nothing without a random start)."""
    model = linear_model()
    calls = []
    model.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].requires_grad))
    x, y = torch.rand(5, 3, 4, 4), torch.zeros(5, dtype=torch.long)
    pgd(model, x, y, 0.1, 0.02, 4)
    assert calls == [True] * 4
    calls.clear()
    pgd(model, x, y, 0.1, 0.02, 4, random_start=True, restarts=2)
    assert calls[:5] == [True] * 4 + [False]  # the first restart scored once, without gradients


def test_a_restart_attacks_only_the_images_no_restart_has_misclassified():
    """Five images: three labelled with the model's own prediction and a margin no step of 1e-4 can cross, two with
    another class (misclassified from the start). The first restart sees all five; the second and third only the
    three survivors, each run of 4 steps followed by one scoring pass."""
    torch.manual_seed(0)
    model = linear_model()
    x = torch.rand(5, 3, 4, 4)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    y = predicted.clone()
    y[[1, 3]] = 1 - predicted[[1, 3]]  # the other of the model's two classes
    sizes = []
    model.register_forward_hook(lambda module, inputs, output: sizes.append((inputs[0].requires_grad,
                                                                             len(inputs[0]))))
    adv = pgd(model, x, y, 1e-4, 2e-5, 4, random_start=True, restarts=3, generator=torch.Generator().manual_seed(0))
    assert sizes == ([(True, 5)] * 4 + [(False, 5)]) + ([(True, 3)] * 4 + [(False, 3)]) * 2
    with torch.no_grad():
        assert torch.equal(model(adv).argmax(1)[[0, 2, 4]], y[[0, 2, 4]])  # the survivors survived


def test_pixels_the_loss_ignores_are_never_moved():
    """A model that reads the left half of the image only: the gradient is exactly 0 on the right half, whose
    sign is 0, so FGSM and PGD (no random start) leave those pixels where they were."""
    torch.manual_seed(0)
    model = LeftHalf(2, 3 * 4 * 2, 3)
    x, y = torch.rand(6, 3, 4, 4) * 0.5 + 0.25, torch.arange(6) % 3
    for adv in (fgsm(model, x, y, 0.1), pgd(model, x, y, 0.1, 0.03, 3)):
        assert torch.equal(adv[..., 2:], x[..., 2:])
        assert (adv[..., :2] - x[..., :2]).abs().amax() > 0.05


class ScriptedLogits(nn.Module):
    """Returns the given logits, one set per call: the restarts' scores are chosen by the test."""

    def __init__(self, *logits):
        super().__init__()
        self.logits = list(logits)

    def forward(self, x):
        return self.logits.pop(0)


def logits_from(*probabilities):
    """Rows of 10 class probabilities, given as {class: p} with the rest shared equally; as logits."""
    rows = []
    for given in probabilities:
        rest = (1 - sum(given.values())) / (10 - len(given))
        rows.append([given.get(c, rest) for c in range(10)])
    return torch.tensor(rows).log()


def test_restarts_keep_a_success_over_any_loss_and_otherwise_the_higher_loss_per_image():
    """Three images of class 0, two restarts of 0 steps (each returns its random start, drawn here from the same
    seed). Scores written by hand as probabilities:
    image A correct both times, cross-entropy 2.0 then 1.0 -> restart 1; image B correct both times, 1.0 then
    1.5 -> restart 2 (a batch-mean score would pick restart 1 for both); image C misclassified by restart 1 at
    cross-entropy 0.80 -> restart 1, since a success is final: the later restarts attack (and score) A and B only.
    A third restart, correct for both at cross-entropy 0.1, must not displace the best so far."""
    import math

    e = math.exp
    first = logits_from({0: e(-2.0)}, {0: e(-1.0)}, {0: 0.45, 1: 0.55})
    second = logits_from({0: e(-1.0)}, {0: e(-1.5)})
    ce = [torch.nn.functional.cross_entropy(s, torch.zeros(len(s), dtype=torch.long), reduction="none")
          for s in (first, second)]
    assert torch.allclose(ce[0], torch.tensor([2.0, 1.0, -math.log(0.45)]))
    assert first.argmax(1).tolist() == [0, 0, 1] and second.argmax(1).tolist() == [0, 0]
    x, y = torch.full((3, 3, 4, 4), 0.5), torch.zeros(3, dtype=torch.long)
    third = logits_from({0: e(-0.1)}, {0: e(-0.1)})
    adv = pgd(ScriptedLogits(first, second, third), x, y, 0.1, 0.01, 0, random_start=True, restarts=3,
              generator=torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(4)
    starts = [0.5 + 0.1 * (torch.rand(x.shape, generator=g) * 2 - 1) for _ in range(3)]
    for image, restart in zip(range(3), (0, 1, 0), strict=True):
        assert torch.allclose(adv[image], starts[restart][image], atol=1e-7)
        for other in {0, 1, 2} - {restart}:
            assert not torch.allclose(adv[image], starts[other][image], atol=1e-3)


def test_the_limits_themselves_are_valid_inputs():
    """Pixels of exactly 0 and 1, label 0, ε = 0 and a batch of one image are all accepted."""
    model = linear_model()
    x = torch.rand(1, 3, 4, 4)
    x[..., 0, 0], x[..., 0, 1] = 0.0, 1.0
    y = torch.zeros(1, dtype=torch.long)
    assert torch.equal(fgsm(model, x, y, 0.0), x)
    assert pgd(model, x, y, 0.1, 0.0, 1).shape == x.shape


def test_the_output_check_names_what_an_attack_broke():
    """The last line of every attack: a changed shape, a pixel outside [0,1] (even one inside the ε-ball) or a
    pixel outside the ε-ball is a bug, reported as such; values within the 1e-6 tolerance pass."""
    from vaeadv.robust.attacks import check_adversarial

    x = torch.full((2, 3, 4, 4), 0.8)
    with pytest.raises(RuntimeError, match=r"^attack changed the shape \(2, 3, 4, 4\) → \(1, 3, 4, 4\)$"):
        check_adversarial(x[:1], x, 0.1)
    for bad in (1.5, -0.05):
        adv = x.clone()
        adv[1, 2, 3, 3] = bad
        with pytest.raises(RuntimeError, match=r"^attack produced pixels outside \[0,1\]$"):
            check_adversarial(adv, x, 1.0)
    adv = x.clone()
    adv[0, 0, 0, 0] = 0.95
    with pytest.raises(RuntimeError, match="^attack left the L∞ ε-ball$"):
        check_adversarial(adv, x, 0.1)
    edge = x + 0.2 + 5e-7
    assert check_adversarial(edge, x, 0.2) is edge


def test_the_output_check_accepts_values_exactly_at_its_tolerance():
    """Exactly at the limits (in float32, as the check computes them): −1e-6, 1 + 1e-6 and ε + 1e-6 from x pass."""
    from vaeadv.robust.attacks import TOLERANCE, check_adversarial

    low, high = torch.tensor(-TOLERANCE), torch.tensor(1.0) + TOLERANCE
    x = torch.tensor([0.0, 1.0, 0.5]).view(1, 3, 1, 1)
    step = torch.tensor(0.25) + TOLERANCE
    adv = torch.stack([low, high, x[0, 2, 0, 0] + step]).view(1, 3, 1, 1)
    assert adv[0, 2, 0, 0] - x[0, 2, 0, 0] == step  # the distance is exactly ε + tolerance
    assert check_adversarial(adv, x, 0.25) is adv


def test_margin_loss_by_hand():
    from vaeadv.robust.attacks import loss_function, margin_loss

    logits = torch.tensor([[3.0, 1.0, 2.5, -4.0],    # true 0, best other 2.5: 2.5 − 3 = −0.5
                           [0.0, 7.0, 2.0, 6.5],     # true 3, best other 7: 7 − 6.5 = 0.5 (misclassified)
                           [-1.0, -2.0, -3.0, -0.5]])  # true 1, best other −0.5: −0.5 + 2 = 1.5
    labels = torch.tensor([0, 3, 1])
    assert margin_loss(logits, labels).tolist() == [-0.5, 0.5, 1.5]
    assert loss_function("margin")(logits, labels).item() == 1.5  # summed, as the other attack losses
    assert margin_loss(logits + 100, labels).tolist() == [-0.5, 0.5, 1.5]  # blind to a shift of all logits


def test_fgsm_with_the_margin_loss_on_a_linear_model_follows_the_runner_up_weights():
    """On a 3-class linear model the margin of label 0 is z_k − z_0 for the runner-up class k, so its gradient is
    w_k − w_0: FGSM moves each pixel by ε along sign(w_k − w_0), whatever the softmax says."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    x = torch.full((1, 3, 4, 4), 0.5)
    y = torch.zeros(1, dtype=torch.long)
    with torch.no_grad():
        z = model(x)[0]
    k = 1 if z[1] > z[2] else 2
    w = model[1].weight.detach()
    expected = 0.1 * torch.sign(w[k] - w[0]).view(1, 3, 4, 4)
    assert torch.allclose(fgsm(model, x, y, 0.1, loss="margin") - x, expected, atol=1e-7)
    with pytest.raises(ValueError, match="unknown attack loss 'hinge' \\(use ce, nll, margin or a callable\\)"):
        fgsm(model, x, y, 0.1, loss="hinge")
