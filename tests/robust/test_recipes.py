from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from vaeadv.errors import VaeadvError
from vaeadv.robust.module import RobustClassifier, parameter_groups
from vaeadv.robust.recipes import RECIPES, get_recipe, warmup_linear_decay


def test_warmup_linear_decay_by_hand():
    # 10 steps, 2 of warm-up: 1/2, 2/2, then (10 − s)/8 for s = 2..9
    factors = [warmup_linear_decay(s, 10, 2) for s in range(10)]
    assert factors == pytest.approx([0.5, 1.0, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8])
    assert warmup_linear_decay(10, 10, 2) == 0.0


def _configured(recipe: str, total_steps: int):
    m = RobustClassifier("standard", recipe, width=4)
    m.trainer = SimpleNamespace(estimated_stepping_batches=total_steps)  # all configure_optimizers reads
    return m, m.configure_optimizers()


def _rates(conf: dict, steps: int) -> list[float]:
    """The learning rate of each of ``steps`` optimizer steps under a configured scheduler."""
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_pretrain_schedule_is_a_triangle_over_the_run(monkeypatch):
    monkeypatch.setattr(RobustClassifier, "trainer", None, raising=False)
    _, conf = _configured("pretrain", 100)
    opt, lrs = conf["optimizer"], _rates(conf, 100)
    peak = RECIPES["pretrain"].lr
    assert conf["lr_scheduler"]["interval"] == "step"
    assert max(lrs) == pytest.approx(peak) and lrs.index(max(lrs)) == 14  # warm-up 15% of 100 steps
    assert lrs[0] == pytest.approx(peak / 15) and lrs[-1] == pytest.approx(peak / 85)
    assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9


def test_no_weight_decay_on_batchnorm_and_biases():
    m = RobustClassifier("standard", "pretrain", width=4)
    decayed, plain = parameter_groups(m, 5e-4, decay_norm_and_bias=False)
    bn = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    assert len(bn) == 20  # 1 stem + 2 per block × 8 blocks + 3 downsampling
    assert len(plain["params"]) == 2 * len(bn) + 1 and plain["weight_decay"] == 0.0  # + the fc bias
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert len(decayed["params"]) == len(convs) + 1 and decayed["weight_decay"] == 5e-4  # + the fc weight
    (single,) = parameter_groups(m, 5e-4, decay_norm_and_bias=True)
    assert len(single["params"]) == sum(1 for _ in m.parameters())


def test_pretrain_loss_is_plain_cross_entropy_unless_smoothing_is_asked_for():
    logits = torch.tensor([[2.0, 0.0, -1.0] + [0.0] * 7])
    y = torch.tensor([0])
    logp = F.log_softmax(logits, 1)[0]
    for recipe in ("pretrain", "template"):  # the course's loss: −log p(y)
        assert RobustClassifier("standard", recipe, width=4).criterion(logits, y).item() == pytest.approx(
            -logp[0].item(), rel=1e-6)
    smoothed = RobustClassifier("standard", "pretrain", width=4, label_smoothing=0.1)
    by_hand = -(0.9 * logp[0] + 0.1 * logp.mean())  # (1 − ε)·NLL + ε·mean over the 10 classes
    assert smoothed.criterion(logits, y).item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_unknown_recipe_is_refused():
    with pytest.raises(VaeadvError, match="unknown recipe 'x'"):
        get_recipe("x")
    with pytest.raises(ValueError):
        RobustClassifier("standard", "x")


def test_fast_at_128_is_wongs_batch_and_nothing_else_changes():
    from dataclasses import asdict
    ours, wong = asdict(RECIPES["fast-at"]), asdict(RECIPES["fast-at-128"])
    assert wong["batch_size"] == 128 and ours["batch_size"] == 256  # the shipped file's recipe keeps its batch
    assert {k for k in ours if ours[k] != wong[k]} == {"batch_size"}


def test_fast_at_128_rate_is_wongs_triangle_0_to_02_to_0_peaking_mid_run(monkeypatch):
    monkeypatch.setattr(RobustClassifier, "trainer", None, raising=False)
    _, conf = _configured("fast-at-128", 100)
    opt, lrs = conf["optimizer"], _rates(conf, 100)
    # by hand: 0.2·(s + 1)/50 for s < 50, then 0.2·(100 − s)/50
    assert lrs[:3] == pytest.approx([0.004, 0.008, 0.012]) and lrs[49] == pytest.approx(0.2)
    assert lrs[50] == pytest.approx(0.2) and lrs[75] == pytest.approx(0.1) and lrs[99] == pytest.approx(0.004)
    assert opt.defaults["momentum"] == 0.9 and not opt.defaults["nesterov"]
    assert all(g["weight_decay"] == 5e-4 for g in opt.param_groups)  # on every parameter, as Wong et al.
