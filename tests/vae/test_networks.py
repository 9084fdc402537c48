import math

import torch

from vaeadv.vae import VAE, CNNDecoder, CNNEncoder, visualize_manifold


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_assignment():
    assert _count(CNNEncoder(1, 32, 20)) == 142_920
    assert _count(CNNDecoder(16, 32, 20)) == 127_696


def test_shapes_for_mnist_and_other_sizes():
    for size in (28, 32, 20):
        enc, dec = CNNEncoder(1, 8, 3, image_size=size), CNNDecoder(16, 8, 3, image_size=size)
        x = torch.randint(0, 16, (5, 1, size, size))
        mean, log_std = enc(x)
        assert mean.shape == (5, 3) and log_std.shape == (5, 3)
        assert dec(mean).shape == (5, 16, size, size)
    assert CNNDecoder().device == torch.device("cpu")


def test_encoder_maps_levels_to_unit_interval():
    enc = CNNEncoder(1, 4, 2)
    for p in enc.parameters():
        torch.nn.init.zeros_(p)
    first = enc.net[0]
    first.bias.data.fill_(0.0)
    first.weight.data.zero_()
    first.weight.data[:, :, 1, 1] = 1.0  # centre tap: passes the (mapped) input through
    seen = {}
    first.register_forward_hook(lambda m, i, o: seen.update(x=i[0]))  # returns None: output untouched
    enc(torch.full((1, 1, 28, 28), 15))
    assert torch.allclose(seen["x"], torch.ones(1, 1, 28, 28))
    seen.clear()
    enc(torch.zeros(1, 1, 28, 28, dtype=torch.long))
    assert torch.allclose(seen["x"], -torch.ones(1, 1, 28, 28))


def test_encoder_outputs_take_both_signs():
    torch.manual_seed(0)
    mean, log_std = CNNEncoder()(torch.randint(0, 16, (16, 1, 28, 28)))
    assert (mean < 0).any() and (mean > 0).any() and (log_std < 0).any() and (log_std > 0).any()


def test_all_zero_model_known_values():
    model = VAE(32, 20, 1e-3)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    L_rec, L_reg, bpd = model(torch.randint(0, 16, (4, 1, 28, 28)))
    assert abs(L_rec.item() - 784 * math.log(16)) < 1e-3
    assert L_reg.item() == 0.0 and abs(bpd.item() - 4.0) < 1e-6


def test_forward_returns_scalars_and_gradients_reach_both_networks():
    model = VAE(8, 4, 1e-3)
    L_rec, L_reg, bpd = model(torch.randint(0, 16, (3, 1, 28, 28)))
    assert L_rec.dim() == L_reg.dim() == bpd.dim() == 0
    bpd.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.net[0].parameters())
    assert model.decoder.net[-1].weight.grad.abs().sum() > 0


def test_channels_last_gives_same_numbers():
    torch.manual_seed(0)
    a = VAE(8, 4, 1e-3)
    b = VAE(8, 4, 1e-3, channels_last=True)
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 16, (3, 1, 28, 28))
    torch.manual_seed(1)
    ra = a(x)
    torch.manual_seed(1)
    rb = b(x)
    assert all(torch.allclose(u, v, atol=1e-4) for u, v in zip(ra, rb, strict=True))


def test_sample_range_dtype_and_decoder_probabilities():
    model = VAE(8, 4, 1e-3)
    s = model.sample(6)
    assert s.shape == (6, 1, 28, 28) and s.dtype == torch.long and s.min() >= 0 and s.max() <= 15
    # a decoder that puts all mass on level 9 yields exactly level 9
    for p in model.decoder.parameters():
        torch.nn.init.zeros_(p)
    model.decoder.net[-1].bias.data[9] = 50.0
    assert (model.sample(2) == 9).all()


def test_manifold_grid_is_deterministic_mean_in_unit_range():
    dec = CNNDecoder(16, 8, 2)
    g1, g2 = visualize_manifold(dec, grid_size=20), visualize_manifold(dec, grid_size=20)
    assert torch.equal(g1, g2)
    assert g1.shape == (1, 20 * 30 + 2, 20 * 30 + 2)
    assert g1.min() >= 0 and g1.max() <= 1
    # uniform logits → every decoded mean is exactly 0.5
    for p in dec.parameters():
        torch.nn.init.zeros_(p)
    assert torch.allclose(visualize_manifold(dec, 4), torch.full_like(visualize_manifold(dec, 4), 0.5))


def test_manifold_uses_inverse_normal_cdf():
    from vaeadv.vae.viz import standard_normal_ppf

    p = torch.tensor([0.025, 0.5, 0.975])
    assert torch.allclose(standard_normal_ppf(p), torch.tensor([-1.959964, 0.0, 1.959964]), atol=1e-5)
