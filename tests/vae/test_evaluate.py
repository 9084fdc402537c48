import math

import pytest
import torch

from vaeadv.errors import VaeadvError
from vaeadv.vae import VAE
from vaeadv.vae.evaluate import evaluate_vae, load_vae, mc_kl_vs_closed_form, prior_sampling_bpd


@pytest.fixture(scope="module")
def model_and_data():
    torch.manual_seed(0)
    model = VAE(8, 4, 1e-3).eval()
    imgs = torch.randint(0, 16, (40, 1, 28, 28))
    return model, imgs


def test_iwae_k1_equals_elbo_up_to_noise(model_and_data):
    model, imgs = model_and_data
    one = [evaluate_vae(model, imgs, iw_samples=1, seed=s)["iwae_bpd"] for s in range(5)]
    elbo = evaluate_vae(model, imgs, iw_samples=1, seed=0)["elbo_bpd"]
    assert abs(sum(one) / len(one) - elbo) < 0.01


def test_iwae_tightens_with_more_samples(model_and_data):
    model, imgs = model_and_data
    r = evaluate_vae(model, imgs, iw_samples=64, seed=0)
    k1 = sum(evaluate_vae(model, imgs, iw_samples=1, seed=s)["iwae_bpd"] for s in range(3)) / 3
    assert r["iwae_bpd"] <= r["elbo_bpd"] + 1e-6 and r["iwae_bpd"] < k1
    assert len(r["kl_per_dim"]) == 4 and abs(sum(r["kl_per_dim"]) - r["kl_nats"]) < 1e-3
    assert 0 <= r["active_units"] <= 4


def test_chunking_does_not_change_result(model_and_data):
    model, imgs = model_and_data
    a = evaluate_vae(model, imgs, iw_samples=10, seed=3, chunk=7)
    b = evaluate_vae(model, imgs, iw_samples=10, seed=3, chunk=10_000)
    assert a["iwae_bpd"] == pytest.approx(b["iwae_bpd"], rel=1e-5)


def test_collapsed_encoder_has_no_active_units(model_and_data):
    _, imgs = model_and_data
    model = VAE(8, 4, 1e-3).eval()
    torch.nn.init.zeros_(model.encoder.net[-1].weight)  # output no longer depends on x
    r = evaluate_vae(model, imgs, iw_samples=2)
    assert r["active_units"] == 0


def test_prior_sampling_is_worse_than_iwae(model_and_data):
    model, imgs = model_and_data
    naive = prior_sampling_bpd(model, imgs[:10], num_samples=50)
    iwae = evaluate_vae(model, imgs[:10], iw_samples=50)["iwae_bpd"]
    assert naive >= iwae - 0.02  # prior samples rarely hit the posterior's mass


def test_mc_kl_table():
    torch.manual_seed(0)
    r = mc_kl_vs_closed_form(torch.randn(100, 3), torch.zeros(100, 3), sample_counts=(1, 1000))
    assert abs(r["mc_1000"] - r["closed_form"]) < 0.05


def test_load_vae_errors(tmp_path):
    with pytest.raises(VaeadvError, match="no such checkpoint"):
        load_vae(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(VaeadvError, match="not a loadable PyTorch checkpoint"):
        load_vae(tmp_path / "junk.ckpt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.ckpt")
    with pytest.raises(VaeadvError, match="not a VAE checkpoint"):
        load_vae(tmp_path / "other.ckpt")
    model = VAE(8, 4, 1e-3)
    state = {k: v for k, v in model.state_dict().items() if "linear" not in k}
    torch.save({"state_dict": state, "hyper_parameters": dict(model.hparams)}, tmp_path / "partial.ckpt")
    with pytest.raises(VaeadvError, match=r"partial\.ckpt: weights do not fit the VAE"):
        load_vae(tmp_path / "partial.ckpt")
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {"depth": 3}}, tmp_path / "foreign.ckpt")
    with pytest.raises(VaeadvError, match=r"foreign\.ckpt: hyper-parameters do not describe a vaeadv VAE \(.*depth"):
        load_vae(tmp_path / "foreign.ckpt")


def test_evaluate_cli_bad_device_is_one_line(tmp_path, capsys):
    from vaeadv.cli import main

    model = VAE(8, 4, 1e-3)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, tmp_path / "m.ckpt")
    assert main(["vae", "evaluate", str(tmp_path / "m.ckpt"), "--device", "nonsense"]) != 0
    err = capsys.readouterr().err
    assert "--device nonsense" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _known_vae(mean: float, log_std: float, seed: int = 0):
    """A VAE whose encoder outputs the constant posterior N(mean, exp(log_std)²) in every dimension and whose
    decoder ignores z (constant logits): then log p(x) = log p(x|z) exactly, and every bound is known."""
    torch.manual_seed(seed)
    model = VAE(num_filters=4, z_dim=5)
    last_enc, last_dec = model.encoder.net[-1], model.decoder.net[-1]
    with torch.no_grad():
        last_enc.weight.zero_()
        last_enc.bias.copy_(torch.tensor([mean] * 5 + [log_std] * 5))
        last_dec.weight.zero_()
        last_dec.bias.copy_(torch.randn(16))
    return model.eval(), torch.log_softmax(last_dec.bias.detach(), 0)


def _bpd(nats_per_image):
    return nats_per_image / (28 * 28 * math.log(2))


def test_elbo_and_iwae_against_closed_forms_with_log_std_far_from_zero():
    mean, log_std = 0.3, -0.2
    model, log_p_level = _known_vae(mean, log_std)
    imgs = torch.randint(0, 16, (40, 1, 28, 28))
    rec = -log_p_level[imgs].sum(dim=(1, 2, 3)).mean().item()  # −log p(x|z), the same for every z
    kl = 5 * (0.5 * (math.exp(2 * log_std) + mean**2 - 1) - log_std)  # closed form, by hand
    ev = evaluate_vae(model, imgs, iw_samples=2000)
    assert ev["elbo_bpd"] == pytest.approx(_bpd(rec + kl), rel=1e-5)
    assert ev["kl_nats"] == pytest.approx(kl, rel=1e-5) and ev["reconstruction_nats"] == pytest.approx(rec, rel=1e-5)
    # IWAE estimates log p(x) = −rec here: with 2000 samples within 0.2 nats per image, far tighter than the ELBO
    assert abs(ev["iwae_bpd"] - _bpd(rec)) < _bpd(0.2) < ev["elbo_bpd"] - _bpd(rec)


def test_iwae_is_exact_when_the_posterior_is_the_prior():
    model, log_p_level = _known_vae(0.0, 0.0)
    imgs = torch.randint(0, 16, (10, 1, 28, 28))
    rec = -log_p_level[imgs].sum(dim=(1, 2, 3)).mean().item()
    ev = evaluate_vae(model, imgs, iw_samples=7)
    assert ev["iwae_bpd"] == pytest.approx(_bpd(rec), rel=1e-6) == ev["elbo_bpd"]  # every weight p(z)/q(z|x) is 1
