import math

import pytest
import torch

from vaeadv.vae import KLD, elbo_to_bpd, sample_reparameterize
from vaeadv.vae.losses import importance_weighted_nll, log_normal, mc_kl, prior_sampling_nll, reparameterize_log_std


def test_sample_reparameterize_statistics_and_gradients():
    torch.manual_seed(0)
    mean = torch.full((20000,), 1.5, requires_grad=True)
    std = torch.full((20000,), 0.5, requires_grad=True)
    z = sample_reparameterize(mean, std)
    assert z.shape == mean.shape
    assert abs(z.mean().item() - 1.5) < 0.1 and abs(z.std().item() - 0.5) < 0.1
    z.sum().backward()
    assert mean.grad is not None and std.grad is not None and std.grad.abs().sum() > 0


def test_sample_reparameterize_rejects_negative_std():
    with pytest.raises(ValueError):
        sample_reparameterize(torch.zeros(3), torch.tensor([1.0, -0.1, 1.0]))


def test_unchecked_log_std_form_draws_the_same_sample():
    mean, log_std = torch.randn(4, 6), torch.randn(4, 6)
    torch.manual_seed(3)
    checked = sample_reparameterize(mean, torch.exp(log_std))
    torch.manual_seed(3)
    assert torch.allclose(reparameterize_log_std(mean, log_std), checked)


def test_kld_known_values():
    assert torch.allclose(KLD(torch.zeros(4, 3), torch.zeros(4, 3)), torch.zeros(4))
    assert KLD(torch.tensor([[2.0]]), torch.tensor([[0.0]])).item() == pytest.approx(2.0)
    assert KLD(torch.tensor([[0.0]]), torch.tensor([[1.0]])).item() == pytest.approx(2.194528, abs=1e-6)
    m, s = torch.randn(5, 7), torch.randn(5, 7)
    assert torch.allclose(KLD(m, s), KLD(-m, s)) and KLD(m, s).shape == (5,)
    # summed over the last dimension whatever the leading ones (e.g. [K, B, z] samples): 2.0 + 2.194528 per row
    mean = torch.tensor([2.0, 0.0]).expand(3, 4, 2)
    log_std = torch.tensor([0.0, 1.0]).expand(3, 4, 2)
    assert torch.allclose(KLD(mean, log_std), torch.full((3, 4), 4.194528))


def test_elbo_to_bpd_known_value():
    for shape in [(2, 1, 28, 28), (3, 3, 4, 5)]:
        nll = -math.log(0.5) * math.prod(shape[1:]) * torch.ones(shape[0])
        assert torch.allclose(elbo_to_bpd(nll, shape), torch.ones(shape[0]))


def test_mc_kl_converges_to_closed_form():
    torch.manual_seed(1)
    mean, log_std = torch.randn(8, 5), 0.3 * torch.randn(8, 5)
    exact = KLD(mean, log_std)
    assert torch.allclose(mc_kl(mean, log_std, 20000), exact, atol=0.15)
    # a single sample is unbiased but noisy
    single = torch.stack([mc_kl(mean, log_std, 1) for _ in range(2000)]).mean(0)
    assert torch.allclose(single, exact, atol=0.3)


def test_log_normal_matches_formula():
    z, m, ls = torch.tensor([[0.3]]), torch.tensor([[0.1]]), torch.tensor([[math.log(2.0)]])
    expected = -0.5 * ((0.3 - 0.1) / 2) ** 2 - math.log(2.0) - 0.5 * math.log(2 * math.pi)
    assert log_normal(z, m, ls).item() == pytest.approx(expected)


def test_iwae_exact_when_q_is_the_true_posterior():
    # p(z)=N(0,1), p(x|z)=N(x; z, 1) ⇒ p(x)=N(x;0,2), posterior N(x/2, 1/2): every weight equals p(x)
    x = torch.tensor([0.7, -1.2])
    mean, log_std = (x / 2)[:, None], torch.full((2, 1), 0.5 * math.log(0.5))
    z = mean + torch.exp(log_std) * torch.randn(7, 2, 1)
    log_px_z = -0.5 * (x - z[..., 0]) ** 2 - 0.5 * math.log(2 * math.pi)
    nll = importance_weighted_nll(log_px_z, z, mean, log_std)
    exact = 0.5 * x**2 / 2 + 0.5 * math.log(2 * math.pi * 2)
    assert torch.allclose(nll, exact, atol=1e-5)


def test_prior_sampling_with_one_sample_is_plain_nll():
    log_px_z = torch.tensor([[-3.0, -5.0]])
    assert torch.allclose(prior_sampling_nll(log_px_z), torch.tensor([3.0, 5.0]))
    two = torch.tensor([[-3.0], [-5.0]])
    assert prior_sampling_nll(two).item() == pytest.approx(-math.log((math.exp(-3) + math.exp(-5)) / 2))


def test_sample_reparameterize_admits_zero_std_and_says_why_it_refuses():
    """std = 0 is a point mass (a deterministic sample at the mean), not an error; a negative std is."""
    mean = torch.tensor([0.5, -2.0, 3.0])
    assert torch.equal(sample_reparameterize(mean, torch.zeros(3)), mean)
    with pytest.raises(ValueError, match="^sample_reparameterize: std must be non-negative$"):
        sample_reparameterize(mean, torch.tensor([0.0, -1e-6, 1.0]))


def test_mc_kl_works_in_the_callers_precision():
    """The noise is drawn in the inputs' dtype, so a bf16 or fp64 caller gets its own precision back."""
    for dtype in (torch.bfloat16, torch.float64):
        mean, log_std = torch.zeros(2, 3, dtype=dtype), torch.full((2, 3), -0.5, dtype=dtype)
        assert mc_kl(mean, log_std, 8).dtype == dtype


def test_mc_kl_draws_its_noise_on_the_inputs_device():
    """On PyTorch's "meta" device (shapes only, no data) a CPU-drawn noise tensor would be refused, as it would
    on a GPU: the estimator must draw on the inputs' device."""
    mean = torch.zeros(2, 3, device="meta")
    assert mc_kl(mean, mean, 4).device.type == "meta"
