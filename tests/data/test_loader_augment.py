import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vaeadv.data import TensorBatchLoader, cutout, quantize, random_crop_flip, ratio_split, split_indices


def test_quantize_other_level_counts_by_hand():
    """floor(k·v/255), clamped to k−1, for a k where dividing by 256 instead would differ: k = 100, v = 51 → 20
    (51/255 = 0.2 exactly), v = 50 → 19, v = 255 → 99."""
    v = torch.tensor([0, 50, 51, 254, 255], dtype=torch.uint8)
    assert quantize(v, 100).tolist() == [0, 19, 20, 99, 99]
    assert quantize(v, 2).tolist() == [0, 0, 0, 1, 1]  # 2·254/255 = 1.99


def test_quantize_matches_template_float_formula_for_every_byte():
    v = torch.arange(256, dtype=torch.uint8)
    template = (v.float() / 255 * 16).floor().clamp(max=15).long()
    assert torch.equal(quantize(v), template)
    assert quantize(v).max() == 15 and quantize(v).min() == 0 and quantize(v).dtype == torch.long


def test_split_matches_torch_random_split():
    a, b = split_indices(100, (90, 10), seed=42)
    ref = torch.utils.data.random_split(range(100), [90, 10], generator=torch.Generator().manual_seed(42))
    assert a.tolist() == list(ref[0]) and b.tolist() == list(ref[1])
    v, t = ratio_split(10000, 0.75, seed=1)
    assert len(v) == 7500 and len(t) == 2500 and len(set(v.tolist()) | set(t.tolist())) == 10000


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 50), bs=st.integers(1, 16), drop=st.booleans(), shuffle=st.booleans())
def test_loader_covers_every_sample_once(n, bs, drop, shuffle):
    x = torch.arange(n)
    loader = TensorBatchLoader(x, x * 2, batch_size=bs, shuffle=shuffle, drop_last=drop, seed=3)
    batches = list(loader)
    assert len(batches) == len(loader)
    seen = torch.cat([b[0] for b in batches]) if batches else torch.empty(0, dtype=torch.long)
    assert all(torch.equal(b[1], b[0] * 2) for b in batches)
    if not drop:
        assert sorted(seen.tolist()) == list(range(n))
    else:
        assert len(seen) == (n // bs) * bs and len(set(seen.tolist())) == len(seen)


def test_loader_reshuffles_per_epoch_and_shards_for_ddp():
    x = torch.arange(10)
    loader = TensorBatchLoader(x, batch_size=10, shuffle=True, seed=0)
    assert not torch.equal(next(iter(loader))[0], next(iter(loader))[0])
    shards = [torch.cat([b[0] for b in TensorBatchLoader(x, batch_size=2, shuffle=True, seed=5, rank=r,
                                                         world_size=3, epoch_fn=lambda: 0)]) for r in range(3)]
    assert all(len(s) == 4 for s in shards)  # ceil(10/3), padded like DistributedSampler
    assert set(torch.cat(shards).tolist()) == set(range(10))


def test_crop_flip_shapes_and_content():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    out = random_crop_flip(x, padding=2, generator=g)
    assert out.shape == x.shape
    # every output pixel is either zero padding or some pixel of the same image and channel
    for i in range(2):
        for c in range(3):
            assert set(out[i, c].unique().tolist()) <= set(x[i, c].unique().tolist()) | {0.0}


def test_crop_zero_padding_is_identity_up_to_flip():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 3, 5, 5)
    out = random_crop_flip(x, padding=0, generator=g)
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 10 < int(mirrored.sum()) < 54


def test_crop_shifts_vary_per_sample():
    g = torch.Generator().manual_seed(2)
    x = torch.ones(200, 1, 6, 6)
    zeros = (random_crop_flip(x, padding=3, generator=g, flip=False) == 0).flatten(1).sum(1)
    assert len(zeros.unique()) > 5  # different samples got different offsets


def test_every_crop_offset_occurs_in_both_directions_and_moves_the_content_by_it():
    """A single bright pixel at the centre: where it lands gives each sample's offset exactly; all of −p..p must
    occur on both axes, and nowhere else."""
    p, n = 2, 2000
    x = torch.zeros(n, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    out = random_crop_flip(x, padding=p, generator=torch.Generator().manual_seed(0), flip=False)
    where = out.flatten(1).argmax(1)
    dy, dx = where // 9 - 4, where % 9 - 4
    assert bool((out.flatten(1).sum(1) == 1).all())  # the pixel survives every shift of at most p
    assert set(dy.tolist()) == set(range(-p, p + 1)) and set(dx.tolist()) == set(range(-p, p + 1))
    counts = torch.bincount((dy + p) * (2 * p + 1) + (dx + p), minlength=(2 * p + 1) ** 2).float()
    assert counts.min() > 0.5 * n / 25  # all 25 offsets, roughly uniformly


def test_default_padding_is_the_templates_four_pixels():
    """``RandomCrop(32, padding=4)``: with the default padding a marker moves by at most 4 pixels, and by 4."""
    x = torch.zeros(3000, 1, 11, 11)
    x[:, :, 5, 5] = 1.0
    out = random_crop_flip(x, generator=torch.Generator().manual_seed(1), flip=False)
    where = out.flatten(1).argmax(1)
    dy, dx = where // 11 - 5, where % 11 - 5
    assert set(dy.tolist()) == set(range(-4, 5)) and set(dx.tolist()) == set(range(-4, 5))


def test_augmentation_draws_only_from_its_generator():
    """Reproducible from the loader's generator alone: the same seed gives the same batch, and torch's global
    random state is left untouched (so the training seed does not depend on how many batches were augmented)."""
    from vaeadv.data.augment import augment_batch

    x = torch.arange(64 * 3 * 8 * 8, dtype=torch.float32).reshape(64, 3, 8, 8)
    y = torch.arange(64)
    torch.manual_seed(123)
    first = augment_batch((x, y), torch.Generator().manual_seed(5), cutout_size=3)
    after_first = torch.rand(4)
    torch.manual_seed(321)
    second = augment_batch((x, y), torch.Generator().manual_seed(5), cutout_size=3)
    torch.manual_seed(123)
    assert torch.equal(first[0], second[0]) and first[1] is y
    assert torch.equal(torch.rand(4), after_first)  # the global stream did not advance
    assert not torch.equal(first[0], x)  # and it did augment


def test_cutout_blanks_one_clipped_square_per_image_in_every_channel():
    """Each image loses one axis-aligned rectangle, the same in all channels: size×size where the centre lies
    at least size/2 from the border, else clipped (side between size/2 and size), nothing else changes."""
    size, n = 4, 2000
    x = torch.arange(1, 1 + n * 3 * 8 * 8, dtype=torch.float32).reshape(n, 3, 8, 8)  # no zero anywhere
    out = cutout(x, size, generator=torch.Generator().manual_seed(0))
    blank = out == 0
    assert torch.equal(out[~blank], x[~blank])
    assert torch.equal(blank, blank[:, :1].expand_as(blank))  # every channel alike
    rows, cols = blank[:, 0].any(2), blank[:, 0].any(1)  # [n,H], [n,W]
    height, width = rows.sum(1), cols.sum(1)
    assert torch.equal(blank[:, 0].flatten(1).sum(1), height * width)  # a rectangle: area = height × width
    assert height.min() == size // 2 and height.max() == size  # centre at row 0: rows 0..1 only
    assert width.min() == size // 2 and width.max() == size
    # full height when the centre row c has c − 2 ≥ 0 and c + 2 ≤ 8: c in 2..6, 5 of the 8 rows
    assert (height == size).float().mean().item() == pytest.approx(5 / 8, abs=0.04)
    assert rows.any(0).all() and cols.any(0).all()  # every row and column gets blanked somewhere


def test_cutout_fills_uint8_images_and_draws_from_its_generator():
    x = torch.full((16, 3, 32, 32), 200, dtype=torch.uint8)
    a = cutout(x, 16, generator=torch.Generator().manual_seed(3))
    b = cutout(x, 16, generator=torch.Generator().manual_seed(3))
    assert a.dtype == torch.uint8 and torch.equal(a, b)
    assert set(a.unique().tolist()) == {0, 200}
    assert ((a == 0).flatten(1).sum(1) >= 3 * 8 * 8).all()  # at least a quarter of the 16×16 square survives


def test_split_lengths_are_checked_and_ratios_round_down():
    with pytest.raises(ValueError, match=r"split lengths \(3, 3\) do not add up to 7"):
        split_indices(7, (3, 3), 0)
    for bad in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            ratio_split(10, bad, 0)
    a, b = ratio_split(10, 0.75, 0)  # int(7.5) = 7
    assert (len(a), len(b)) == (7, 3) and sorted(torch.cat([a, b]).tolist()) == list(range(10))
    a, b = ratio_split(10, 0.01, 0)
    assert (len(a), len(b)) == (0, 10)
    first, _ = ratio_split(100, 0.5, 1)
    assert torch.equal(first, split_indices(100, (50, 50), 1)[0])  # the seed reaches the permutation
    assert not torch.equal(first, ratio_split(100, 0.5, 2)[0])


def test_augmentation_and_batches_stay_on_the_images_device():
    """A device other than the CPU ("meta": shapes only) takes no CPU tensor in: what a GPU-resident data set
    needs. Only the random draws are made on the CPU generator, so the draws are the same on any device."""
    from vaeadv.data.augment import augment_batch

    images = torch.zeros(6, 3, 8, 8, dtype=torch.uint8, device="meta")
    labels = torch.arange(6, device="meta")
    loader = TensorBatchLoader(images, labels, batch_size=4, shuffle=True,
                               transform=lambda b, g: augment_batch(b, g, crop_flip=True, cutout_size=4))
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(4, 3, 8, 8), (2, 3, 8, 8)]
    assert all(t.device.type == "meta" for b in batches for t in b)


def test_cutout_square_is_centred_on_the_drawn_pixel():
    """Size 5 around the centre drawn (row first, then column, from the generator): rows and columns c−2..c+2,
    clipped at the border."""
    size, n = 5, 64
    x = torch.ones(n, 1, 12, 12)
    out = cutout(x, size, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    cy, cx = torch.randint(0, 12, (n,), generator=g), torch.randint(0, 12, (n,), generator=g)
    for i in range(n):
        expected = torch.ones(12, 12)
        expected[max(0, cy[i] - 2):cy[i] + 3, max(0, cx[i] - 2):cx[i] + 3] = 0
        assert torch.equal(out[i, 0], expected), i


def test_augment_batch_defaults_to_crop_and_flip_without_cutout():
    from vaeadv.data.augment import augment_batch

    x = torch.arange(1, 1 + 16 * 3 * 8 * 8, dtype=torch.float32).reshape(16, 3, 8, 8)  # no zero anywhere
    y = torch.arange(16)
    images, labels = augment_batch((x, y), torch.Generator().manual_seed(4))
    assert labels is y
    assert torch.equal(images, random_crop_flip(x, generator=torch.Generator().manual_seed(4)))
    assert not torch.equal(images, x)
