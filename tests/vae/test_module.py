"""The VAE module's training objective, pinned to values computed here: bpd = nats / (H·W·ln 2), and β weights
only the KL term."""

import math

import torch

from vaeadv.vae.module import VAE


def _loss(model, imgs, seed):
    torch.manual_seed(seed)
    return model._step((imgs,), "train")["loss"]


def test_the_beta_vae_loss_is_rec_plus_beta_kl_in_bits_per_pixel():
    torch.manual_seed(0)
    imgs = torch.randint(0, 16, (4, 1, 28, 28))
    for beta in (1.0, 3.0, 0.25):
        model = VAE(num_filters=4, z_dim=3, beta=beta)
        with torch.no_grad():
            model.encoder.net[-1].bias.fill_(-1.5)  # log-std far from 0 (and means off 0): the KL term is large
        torch.manual_seed(7)
        rec, kl, bpd = model(imgs)
        expected = (rec + beta * kl) / (28 * 28 * math.log(2))
        assert kl.item() > 1.0
        assert torch.allclose(_loss(model, imgs, 7), expected, rtol=1e-6)
        assert torch.allclose(bpd, (rec + kl) / (28 * 28 * math.log(2)), rtol=1e-6)  # bpd stays the β=1 ELBO's


def test_compile_loss_graph_compiles_the_per_image_loss_with_the_given_mode(monkeypatch):
    """torch.compile receives the encoder–decoder loss and the requested mode, and forward then runs through
    what it returned (a stand-in here that records the call: compiling for real takes a minute on a CPU)."""
    calls = []

    def fake_compile(fn, mode=None):
        def graph(imgs):
            calls.append(("called", len(imgs)))
            return fn(imgs)
        calls.append(("compile", fn.__name__, mode))
        return graph

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = VAE(num_filters=4, z_dim=2).compile_loss_graph(mode="reduce-overhead")
    rec, kl, bpd = model(torch.randint(0, 16, (3, 1, 28, 28)))
    assert calls == [("compile", "_encode_decode", "reduce-overhead"), ("called", 3)]
    assert rec.ndim == kl.ndim == bpd.ndim == 0
