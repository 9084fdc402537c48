"""The sample grids: drawn with their own seed (the training's random stream is left as it was), and saved before
training, every ``every``-th epoch and after the last one — a 4-epoch run with ``every=5`` still shows its model."""

from types import SimpleNamespace

import torch

from vaeadv.vae.callbacks import SampleGrids
from vaeadv.vae.module import VAE
from vaeadv.vae.viz import sample_grid


def test_sample_grid_is_seeded_and_leaves_the_global_stream_and_the_mode_alone():
    model = VAE(num_filters=4, z_dim=3).train()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = sample_grid(model, num=16, seed=7)
    assert torch.equal(torch.rand(3), expected_next)  # the caller's random stream did not move
    assert model.training
    assert torch.equal(sample_grid(model, num=16, seed=7), first)
    assert not torch.equal(sample_grid(model, num=16, seed=8), first)
    # 16 one-channel 28×28 images in 2 rows of 8, padding 2: (2 + 2·30) × (2 + 8·30); values are levels/15 in [0, 1]
    assert first.shape == (1, 62, 242) and 0.0 <= first.min() and first.max() <= 1.0


def test_grids_are_saved_every_nth_epoch_and_after_the_last(tmp_path):
    model = VAE(num_filters=4, z_dim=3)
    callback = SampleGrids(tmp_path, every=5, num=8)
    for epoch in range(7):  # a 7-epoch run: epochs 1..7 end here
        trainer = SimpleNamespace(is_global_zero=True, loggers=[], current_epoch=epoch, max_epochs=7)
        if epoch == 0:
            callback.on_train_start(trainer, model)
        callback.on_train_epoch_end(trainer, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0_samples.png", "epoch_5_samples.png",
                                                          "epoch_7_samples.png"]
