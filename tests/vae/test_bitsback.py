"""Bits-back ANS with the VAE: exact round trips, message lengths against −log₂ p computed independently, the
latent grid against the normal CDF, the trained model's file against its ELBO, and a file that refuses the wrong
model, damage, and another process's different probabilities."""

import lzma
import math
import subprocess
import sys
from pathlib import Path

import constriction
import numpy as np
import pytest
import torch

from vaeadv.errors import VaeadvError
from vaeadv.vae import bbans_file
from vaeadv.vae.bitsback import SEED_WORDS, BitsBackCoder, LatentGrid
from vaeadv.vae.compress import compress, decompress, pack_nibbles, png_bytes
from vaeadv.vae.module import VAE

REPO = Path(__file__).resolve().parents[2]
TRAINED = REPO / "docs" / "results" / "vae_default" / "best.ckpt"


def test_the_coder_round_trips_and_costs_what_the_probabilities_say():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(16, 0.3), size=2000)
    symbols = np.array([rng.choice(16, p=p) for p in probs], dtype=np.int32)
    seed = rng.integers(1, 2**32, size=SEED_WORDS, dtype=np.uint64).astype(np.uint32)
    coder = constriction.stream.stack.AnsCoder(seed)
    before = coder.num_valid_bits()
    coder.encode_reverse(symbols, constriction.stream.model.Categorical(perfect=False), probs)
    ideal = -np.log2(probs[np.arange(len(symbols)), symbols]).sum()
    assert ideal <= coder.num_valid_bits() - before <= 1.01 * ideal + 64
    back = coder.decode(constriction.stream.model.Categorical(perfect=False), probs)
    assert np.array_equal(back, symbols)


def test_the_latent_grid_has_equal_prior_mass_and_gaussian_posterior_mass():
    grid = LatentGrid.standard_normal(8)
    phi = [0.5 * (1 + math.erf(e / math.sqrt(2))) for e in grid.edges.tolist()]
    assert phi == pytest.approx([k / 8 for k in range(9)], abs=1e-12)
    assert [0.5 * (1 + math.erf(c / math.sqrt(2))) for c in grid.centres.tolist()] == \
        pytest.approx([(k + 0.5) / 8 for k in range(8)], abs=1e-12)  # each centre is its bucket's prior median
    q = grid.posterior_probabilities(torch.tensor([0.3], dtype=torch.float64), torch.tensor([0.5]))
    by_hand = [0.5 * (math.erf((b - 0.3) / (0.5 * math.sqrt(2))) - math.erf((a - 0.3) / (0.5 * math.sqrt(2))))
               for a, b in zip(grid.edges[:-1].tolist(), grid.edges[1:].tolist(), strict=True)]
    assert q[0].tolist() == pytest.approx(by_hand, abs=1e-12) and q.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_exact_round_trip_on_a_random_model_and_random_images(seed):
    torch.manual_seed(seed)
    model = VAE(num_filters=4, z_dim=3)
    images = np.random.default_rng(seed).integers(0, 16, size=(6, 28, 28)).astype(np.uint8)
    coder = BitsBackCoder(model, buckets=64)
    words, stats = coder.encode(images, seed=seed)
    assert np.array_equal(coder.decode(words, 6, (28, 28), seed=seed), images)
    assert stats["message_bits"] == 32 * len(words) and stats["initial_bits"] == 32 * SEED_WORDS


def test_a_bucket_count_off_a_power_of_two_and_the_default_seed_round_trip_to_uint8_levels():
    """100 buckets: a uniform over them is not exact in the coder's fixed point, so the decoder must quantise it
    as the encoder did (not 'perfectly') and from 1/100 itself; no seed given on either side is the same seed."""
    torch.manual_seed(2)
    model = VAE(num_filters=4, z_dim=3)
    images = np.random.default_rng(2).integers(0, 16, size=(3, 28, 28)).astype(np.uint8)
    coder = BitsBackCoder(model, buckets=100)
    words, _ = coder.encode(images)
    back = coder.decode(words, 3, (28, 28))
    assert back.dtype == np.uint8 and np.array_equal(back, images)
    with pytest.raises(VaeadvError) as caught:
        coder.decode(words, 3, (28, 28), seed=1)  # the message ends elsewhere than the initial bits it drew
    assert str(caught.value) == ("bits-back decoding did not end at the initial bits: the probabilities differed "
                                 "from those the file was encoded with (another model, machine or library version).")


def test_without_the_optional_coder_the_error_says_how_to_install_it(monkeypatch):
    from vaeadv.vae import bitsback

    monkeypatch.setitem(sys.modules, "constriction", None)  # what an environment without it imports
    with pytest.raises(VaeadvError) as caught:
        bitsback._constriction()
    assert str(caught.value) == ("bits-back compression needs the 'constriction' entropy coder: pip install "
                                 "'vaeadv[compress]' (or pip install constriction).")


def test_the_smallest_latent_grid_has_two_buckets():
    grid = LatentGrid.standard_normal(2)
    assert grid.edges.tolist() == [-math.inf, 0.0, math.inf] and grid.centres.tolist() == \
        pytest.approx([-0.6744897501960817, 0.6744897501960817], abs=1e-12)  # the normal's quartiles
    with pytest.raises(ValueError, match=r"^buckets must be >= 2, got 1$"):
        LatentGrid.standard_normal(1)


@pytest.fixture(scope="module")
def trained_and_images(real_mnist):
    from vaeadv.data import quantize
    from vaeadv.vae.evaluate import load_vae

    model = load_vae(TRAINED).cpu()
    levels = quantize(real_mnist.x_test[:400], 16)
    return model, levels


def test_the_trained_vaes_file_is_within_2_percent_of_its_elbo(trained_and_images, tmp_path):
    from vaeadv.vae.evaluate import evaluate_vae

    model, levels = trained_and_images
    images = levels[:, 0].numpy().astype(np.uint8)
    coded = compress(model, images, tmp_path / "t.bbans")
    elbo = evaluate_vae(model, levels, iw_samples=1)["elbo_bpd"]
    # the message net of the initial bits tracks the negative ELBO; the whole file adds ~2k bits of overhead
    net = coded["message_bits_per_pixel"] - coded["initial_bits"] / images.size
    assert abs(net / elbo - 1) < 0.02
    xz = 8 * len(lzma.compress(pack_nibbles(images), preset=9)) / images.size
    assert coded["bits_per_pixel"] < 0.75 * xz  # far below a generic compressor
    back, info = decompress(model, tmp_path / "t.bbans")
    assert np.array_equal(back, images) and info["environment_differs"] == {}


def test_another_process_decodes_the_file_bit_exactly(trained_and_images, tmp_path):
    model, levels = trained_and_images
    images = levels[:50, 0].numpy().astype(np.uint8)
    compress(model, images, tmp_path / "t.bbans")
    done = subprocess.run([sys.executable, "-m", "vaeadv", "vae", "decompress", str(TRAINED),
                           str(tmp_path / "t.bbans"), str(tmp_path / "t.npy")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.array_equal(np.load(tmp_path / "t.npy"), images)


def test_the_wrong_model_a_damaged_file_and_a_foreign_file_are_one_line_errors(trained_and_images, tmp_path,
                                                                              monkeypatch):
    import vaeadv.vae.compress as compress_module

    model, levels = trained_and_images
    images = levels[:20, 0].numpy().astype(np.uint8)
    path = tmp_path / "t.bbans"
    compress(model, images, path)
    other = VAE(num_filters=32, z_dim=20)
    decoded = []
    real_coder = compress_module.BitsBackCoder
    monkeypatch.setattr(compress_module, "BitsBackCoder", lambda *a, **k: decoded.append(a) or real_coder(*a, **k))
    written_by = bbans_file.read(path)[0]["model_sha256"]
    assert written_by == bbans_file.model_sha256(model) != bbans_file.model_sha256(other)
    with pytest.raises(VaeadvError, match=rf"compressed with another model \(SHA-256 {written_by[:12]}…\)"):
        decompress(other, path)
    assert decoded == []  # refused from the header, before a coder was even built
    monkeypatch.setattr(compress_module, "BitsBackCoder", real_coder)
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x10  # one flipped bit in the message
    (tmp_path / "flipped.bbans").write_bytes(bytes(data))
    with pytest.raises(VaeadvError, match="initial bits|checksum"):
        decompress(model, tmp_path / "flipped.bbans")
    (tmp_path / "cut.bbans").write_bytes(path.read_bytes()[:30])
    with pytest.raises(VaeadvError, match="damaged"):
        decompress(model, tmp_path / "cut.bbans")
    (tmp_path / "foreign.bbans").write_bytes(b"PK\x03\x04 not ours")
    with pytest.raises(VaeadvError, match="not a vaeadv bits-back file"):
        bbans_file.read(tmp_path / "foreign.bbans")
    with pytest.raises(VaeadvError, match="level 16"):
        compress(model, images + 16 - images.max(), tmp_path / "x.bbans")  # beyond the model's 16 levels
    assert not (tmp_path / "x.bbans").exists()


def test_pack_nibbles_and_the_png_writer_against_a_peer_decoder(tmp_path):
    assert pack_nibbles(np.array([[1, 2, 15, 0]])) == bytes([0x12, 0xF0])
    from PIL import Image

    image = np.random.default_rng(3).integers(0, 16, size=(28, 28)).astype(np.uint8)
    (tmp_path / "x.png").write_bytes(png_bytes(image))
    decoded = np.array(Image.open(tmp_path / "x.png"))
    assert np.array_equal(decoded, image * 17)  # Pillow scales 4-bit grey to 8 bits


def test_the_shipped_vae_is_the_committed_run_and_a_changed_file_is_refused(tmp_path, monkeypatch):
    import shutil

    from vaeadv import registry
    from vaeadv.vae.evaluate import load_vae

    shipped, run = load_vae("vaeadv-vae-z20"), load_vae(TRAINED)
    assert shipped.state_dict().keys() == run.state_dict().keys()
    assert all(torch.equal(shipped.state_dict()[k], run.state_dict()[k]) for k in run.state_dict())
    assert bbans_file.model_sha256(shipped) == registry.manifest("vaeadv-vae-z20")["weights_sha256"]
    folder = tmp_path / "weights"
    shutil.copytree(registry.weights_folder(), folder, ignore=shutil.ignore_patterns("vaeadv-resnet18*", "__*"))
    data = bytearray((folder / "vaeadv-vae-z20.pt").read_bytes())
    data[-100] ^= 1
    (folder / "vaeadv-vae-z20.pt").write_bytes(bytes(data))
    monkeypatch.setattr(registry, "weights_folder", lambda: folder)
    with pytest.raises(VaeadvError, match="SHA-256"):
        load_vae("vaeadv-vae-z20")
