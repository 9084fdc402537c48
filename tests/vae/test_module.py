"""The VAE module's training objective, pinned to values computed here: bpd = nats / (H·W·ln 2), and β weights
only the KL term."""

import math

import pytest
import torch

from vaeadv.vae.module import VAE


def _loss(model, imgs, seed):
    torch.manual_seed(seed)
    return model._step((imgs,), "train")["loss"]


def test_the_beta_vae_loss_is_rec_plus_beta_kl_in_bits_per_pixel():
    torch.manual_seed(0)
    imgs = torch.randint(0, 16, (4, 1, 28, 28))
    for beta in (1.0, 2.0, 3.0, 0.25):
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


def test_optimisers_of_the_recipes():
    """Constant rate: Adam (the template's); weight decay: AdamW with it; cosine: per-epoch decay to 0 over
    max_epochs."""
    plain = VAE(num_filters=4, z_dim=2, lr=3e-3).configure_optimizers()
    assert type(plain) is torch.optim.Adam and plain.defaults["lr"] == 3e-3 and plain.defaults["weight_decay"] == 0
    assert plain.defaults["fused"] is False  # fused kernels on a GPU only
    old = VAE(num_filters=4, z_dim=2, weight_decay=0.05)
    del old.hparams["weight_decay"]  # a checkpoint written before the option existed
    assert type(old.configure_optimizers()) is torch.optim.Adam
    decayed = VAE(num_filters=4, z_dim=2, weight_decay=0.05).configure_optimizers()
    assert type(decayed) is torch.optim.AdamW and decayed.defaults["weight_decay"] == 0.05
    decayed = VAE(num_filters=4, z_dim=2, lr=3e-3, weight_decay=0.05).configure_optimizers()
    assert decayed.defaults["lr"] == 3e-3 and decayed.defaults["fused"] is False
    cosine = VAE(num_filters=4, z_dim=2, lr=1e-3, lr_schedule="cosine", max_epochs=4).configure_optimizers()
    sched = cosine["lr_scheduler"]
    assert sched["interval"] == "epoch" and isinstance(sched["scheduler"], torch.optim.lr_scheduler.CosineAnnealingLR)
    rates = []
    for _ in range(4):
        rates.append(cosine["optimizer"].param_groups[0]["lr"])
        cosine["optimizer"].step()  # no gradients yet: a no-op, in the order torch expects
        sched["scheduler"].step()
    assert rates == pytest.approx([1e-3 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
    assert cosine["optimizer"].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_each_stage_logs_the_elbo_terms_under_its_name(monkeypatch):
    """What TensorBoard and the results files read: {stage}_reconstruction_loss, _regularization_loss, _ELBO and
    _bpd per epoch (bpd on the progress bar), and test_bpd in testing."""
    model = VAE(num_filters=4, z_dim=2)
    logged = {}
    monkeypatch.setattr(model, "log", lambda name, value, **kw: logged.__setitem__(name, (value.item(), kw)))
    imgs = torch.randint(0, 16, (3, 1, 28, 28))
    torch.manual_seed(0)
    out = model._step((imgs,), "val")
    names = {f"val_{k}" for k in ("reconstruction_loss", "regularization_loss", "ELBO", "bpd")}
    assert set(logged) == names
    rec, kl, elbo = (logged[f"val_{k}"][0] for k in ("reconstruction_loss", "regularization_loss", "ELBO"))
    assert elbo == pytest.approx(rec + kl) and logged["val_bpd"][0] == pytest.approx(elbo / (784 * math.log(2)))
    assert logged["val_bpd"][1] == {"on_step": False, "on_epoch": True, "prog_bar": True, "sync_dist": True}
    assert logged["val_ELBO"][1]["prog_bar"] is False
    assert not out["ELBO"].requires_grad and out["loss"].requires_grad
    logged.clear()
    model.training_step((imgs,), 0)
    assert {name.split("_", 1)[0] for name in logged} == {"train"}
    assert logged["train_bpd"][1]["sync_dist"] is False  # no cross-process sync per training step
    logged.clear()
    model.test_step((imgs,), 0)
    assert list(logged) == ["test_bpd"] and logged["test_bpd"][1]["sync_dist"] is True
