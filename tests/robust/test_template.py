"""The template-compatible adapter gives the generic attacks' numbers after unit conversion, and the
template's own one-image-at-a-time evaluation loop gives the same accuracy as the batched ``test_attack``."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tests.robust.helpers import synthetic_data, trained_tiny_model
from vaeadv.robust import template as T
from vaeadv.robust.attacks import fgsm_step, pgd
from vaeadv.robust.objectives import fgsm_objective

ATOL = 2e-5  # normalise ↔ denormalise round trips


def normalised_model():
    """A model on normalised inputs, as the template has it: the tiny pixel model behind a denormaliser."""
    pixel_model = trained_tiny_model()

    class OnNormalised(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = pixel_model

        def forward(self, x):
            return self.inner(T.denormalize(x))

    return OnNormalised().eval(), pixel_model


def test_fgsm_attack_matches_generic_step_and_respects_range():
    x_pix, _ = synthetic_data(8)
    x = T.normalize(x_pix)
    grad = torch.randn_like(x)
    out = T.fgsm_attack(x, grad, 0.1)
    expected = T.normalize(fgsm_step(x_pix, grad, T.pixel_budget(0.1)))
    assert torch.allclose(out, expected, atol=ATOL)
    big = T.fgsm_attack(x, grad, 50.0)  # everything saturates at the per-channel bounds
    lo, hi = T.normalize(torch.zeros(1, 3, 1, 1)), T.normalize(torch.ones(1, 3, 1, 1))
    assert (big >= lo - ATOL).all() and (big <= hi + ATOL).all()
    assert torch.allclose(big.amax(dim=(0, 2, 3)), hi.flatten(), atol=ATOL)


def test_pgd_attack_equals_generic_pgd_in_pixel_units():
    model, pixel_model = normalised_model()
    x_pix, y = synthetic_data(16, seed=2)
    args = {T.EPSILON: 0.1, T.ALPHA: 0.01, T.NUM_ITER: 5}
    out = T.pgd_attack(model, T.normalize(x_pix), y, nn.CrossEntropyLoss(), args)
    ref = pgd(pixel_model, x_pix, y, T.pixel_budget(0.1), T.pixel_budget(0.01), 5)
    assert torch.allclose(T.denormalize(out), ref, atol=ATOL)
    # ε = 0.1 normalised is ≈ 0.025 in pixels, per channel
    assert ((T.denormalize(out) - x_pix).abs().amax(dim=(0, 2, 3)) <= T.pixel_budget(0.1) + 1e-5).all()


def test_fgsm_loss_equals_generic_objective():
    model, pixel_model = normalised_model()
    x_pix, y = synthetic_data(16, seed=3)
    args = {T.EPSILON: 0.1, T.ALPHA: 0.5}
    loss, preds = T.fgsm_loss(model, nn.CrossEntropyLoss(), T.normalize(x_pix), y, args)
    ref, logits = fgsm_objective(pixel_model, x_pix, y, T.pixel_budget(0.1), 0.5)
    assert torch.allclose(loss, ref, atol=1e-5) and torch.equal(preds, logits.argmax(1))
    clean = F.cross_entropy(pixel_model(x_pix), y)
    assert abs(loss.item() - clean.item()) > 1e-4  # the adversarial half really differs from the clean loss
    assert T.fgsm_loss(model, nn.CrossEntropyLoss(), T.normalize(x_pix), y, args, return_preds=False).dim() == 0


def template_loop(model, images, labels, attack, args):
    """The template's test_attack, literally: one normalised image at a time, nll_loss on logits for FGSM."""
    correct, examples = 0, []
    for i in range(len(images)):
        data, target = images[i:i + 1].clone().requires_grad_(True), labels[i:i + 1]
        output = model(data)
        init_pred = output.argmax(1)
        if init_pred.item() != target.item():
            continue
        if attack == T.FGSM:
            loss = F.nll_loss(output, target)
            (grad,) = torch.autograd.grad(loss, data)
            perturbed = T.fgsm_attack(data, grad, args[T.EPSILON])
        else:
            perturbed = T.pgd_attack(model, data.detach(), target, nn.CrossEntropyLoss(), args)
        final_pred = model(perturbed).argmax(1)
        if final_pred.item() == target.item():
            correct += 1
        elif len(examples) < 5:
            examples.append((init_pred.item(), final_pred.item()))
    return correct / len(images), examples


def test_test_attack_matches_template_loop():
    model, _ = normalised_model()
    x_pix, y = synthetic_data(64, seed=4)
    x = T.normalize(x_pix)
    loader = [(x[i:i + 20], y[i:i + 20]) for i in range(0, 64, 20)]
    for attack, args in [(T.FGSM, {T.EPSILON: 0.1}), (T.PGD, {T.EPSILON: 0.1, T.ALPHA: 0.01, T.NUM_ITER: 5})]:
        acc, examples = T.test_attack(model, loader, attack, args)
        ref_acc, ref_examples = template_loop(model, x, y, attack, args)
        assert acc == ref_acc
        assert [(e[0], e[1]) for e in examples] == ref_examples
        assert all(e[2].shape == (3, 32, 32) and 0 <= e[3].min() and e[3].max() <= 1 for e in examples)


def test_normalised_units_by_hand():
    """The course template's σ = (0.247, 0.243, 0.261): ε = 0.1 normalised is 0.1·σ_c per channel in pixels, and
    FGSM in normalised space moves every unclamped value by exactly ε there."""
    assert T.pixel_budget(0.1).tolist() == pytest.approx([0.0247, 0.0243, 0.0261], abs=1e-7)
    x = T.normalize(torch.full((2, 3, 4, 4), 0.5))  # mid-grey: no clamping within ε
    grad = torch.randn_like(x)
    moved = T.fgsm_attack(x, grad, 0.1) - x
    assert torch.allclose(moved, 0.1 * grad.sign(), atol=ATOL)


def test_get_model_defaults_to_the_shipped_weights_on_normalised_inputs():
    """The template's model takes *normalised* inputs (no normalisation inside) and, by default, vaeadv's own
    pretrained weights; 10 classes are what those weights hold, so asking for another head fails to load."""
    from vaeadv.errors import VaeadvError
    from vaeadv.robust.models import load_classifier
    from vaeadv.robust.template import get_model

    fresh = get_model(None, num_classes=5)
    assert isinstance(fresh.normalize, torch.nn.Identity) and fresh.fc.out_features == 5 and not fresh.training
    model = get_model()
    shipped = load_classifier("vaeadv-resnet18")
    assert isinstance(model.normalize, torch.nn.Identity) and model.conv1.out_channels == 64
    assert all(torch.equal(v, shipped.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises((RuntimeError, VaeadvError)):
        get_model("vaeadv-resnet18", num_classes=5)


def test_fgsm_loss_uses_the_given_criterion_for_both_halves():
    """With label smoothing 0.3 the objective is α·J_ls(x) + (1−α)·J_ls(x_adv), written out here from the
    adversarial example the generic step makes with the same criterion."""
    model, pixel_model = normalised_model()
    x_pix, y = synthetic_data(16, seed=5)
    smooth = nn.CrossEntropyLoss(label_smoothing=0.3)
    loss, _ = T.fgsm_loss(model, smooth, T.normalize(x_pix), y, {T.EPSILON: 0.1, T.ALPHA: 0.5})
    x_req = x_pix.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(smooth(pixel_model(x_req), y), x_req)
    x_adv = fgsm_step(x_pix, grad, T.pixel_budget(0.1))
    expected = 0.5 * smooth(pixel_model(x_pix), y) + 0.5 * smooth(pixel_model(x_adv), y)
    assert torch.allclose(loss, expected, atol=1e-5)
    assert abs(loss.item() - fgsm_objective(pixel_model, x_pix, y, T.pixel_budget(0.1), 0.5)[0].item()) > 1e-3


def test_fgsm_attack_default_epsilon_is_the_templates_quarter():
    """``fgsm_attack(image, data_grad, epsilon=0.25)`` (the template's signature): unclamped normalised values
    move by exactly 0.25."""
    x = T.normalize(torch.full((1, 3, 4, 4), 0.5))
    moved = T.fgsm_attack(x, torch.ones_like(x)) - x
    assert torch.allclose(moved, torch.full_like(moved, 0.25), atol=1e-5)


def test_test_attack_refuses_an_unknown_attack_by_name():
    model, _ = normalised_model()
    with pytest.raises(ValueError, match=r"^unknown attack 'cw' \(use 'fgsm' or 'pgd'\)$"):
        T.test_attack(model, [], "cw", {T.EPSILON: 0.1})


def test_pgd_attack_climbs_the_given_criterion():
    """PGD on the template's criterion, not on a fixed loss: with label smoothing 0.9 the steps differ from plain
    cross-entropy's, and equal those of the generic PGD run on that criterion (summed over the batch)."""
    model, pixel_model = normalised_model()
    x_pix, y = synthetic_data(16, seed=2)
    args = {T.EPSILON: 0.1, T.ALPHA: 0.01, T.NUM_ITER: 5}
    smooth = nn.CrossEntropyLoss(label_smoothing=0.9)
    out = T.denormalize(T.pgd_attack(model, T.normalize(x_pix), y, smooth, args))
    ref = pgd(pixel_model, x_pix, y, T.pixel_budget(0.1), T.pixel_budget(0.01), 5,
              loss=lambda logits, t: smooth(logits, t) * len(t))
    plain = pgd(pixel_model, x_pix, y, T.pixel_budget(0.1), T.pixel_budget(0.01), 5)
    assert torch.allclose(out, ref, atol=ATOL) and not torch.allclose(out, plain, atol=ATOL)


def test_normalisation_keeps_the_callers_dtype_and_the_wrapper_reports_its_mode():
    x = torch.rand(2, 3, 4, 4, dtype=torch.bfloat16)
    assert T.normalize(x).dtype == torch.bfloat16 and T.denormalize(x).dtype == torch.bfloat16
    model, _ = normalised_model()
    assert T.PixelSpace(model.eval()).training is False and T.PixelSpace(model.train()).training is True
