"""Part 1 experiments: the z=20 VAE, the z=2 manifold, Q1.2 (prior sampling vs importance sampling as
z_dim grows), Q1.6 (Monte-Carlo KL vs closed form) and the β sweep. Each returns a JSON-able dict whose
figure paths are relative to the report folder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from vaeadv.io import pyplot, save_figure
from vaeadv.report.context import Context
from vaeadv.report.scales import Scale
from vaeadv.report.store import reuse_or_train, run_dir_name
from vaeadv.vae.config import VAETrainConfig
from vaeadv.vae.evaluate import evaluate_vae, load_vae, mc_kl_vs_closed_form, prior_sampling_bpd
from vaeadv.vae.train import train_vae
from vaeadv.vae.viz import levels_to_unit, make_grid, sample_grid, save_image


def planned_runs(s: Scale) -> dict[str, list[tuple[int, float, int, int | None]]]:
    """(z_dim, β, epochs, training images) of the VAEs each Part 1 experiment trains: one list, read by the
    experiments and by ``pretrain_concurrently``."""
    main = (20, 1.0, s.vae_epochs, s.vae_train_subset)
    return {"vae_main": [main], "vae_manifold": [(2, 1.0, s.vae_epochs, s.vae_train_subset)],
            "q12_prior_vs_importance": [(z, 1.0, s.q12_epochs, s.q12_train_subset) for z in s.q12_z_dims],
            "beta_sweep": [(20, beta, s.beta_epochs, s.beta_train_subset) for beta in s.betas],
            "compression": [main]}


def vae_run_config(ctx: Context, z_dim: int, beta: float, epochs: int, subset: int | None) -> VAETrainConfig:
    """A report VAE's training config, with the report folder's place for the run as its log_dir/run_name."""
    cfg = VAETrainConfig(data_dir=ctx.data_dir, download=ctx.download, z_dim=z_dim, beta=beta, epochs=epochs,
                         train_subset=subset, sample_every=ctx.scale.vae_sample_every, resume=True,
                         progress=ctx.progress, compile=ctx.compile)
    run_dir = ctx.runs / "vae" / run_dir_name(f"z{z_dim}_beta{beta:g}_e{epochs}", cfg)
    return replace(cfg, log_dir=str(run_dir.parent), run_name=run_dir.name)


def _found(ctx: Context, cfg: VAETrainConfig, train: Callable[[], dict | None]) -> dict | None:
    """The finished run of ``cfg`` in the report folder or (copied in) under ``ctx.reuse``; else ``train()``."""
    return reuse_or_train(cfg, ctx.runs / "vae", train,
                          lambda r: r.get("epochs_completed") == cfg.epochs and r.get("test_bpd") is not None,
                          elsewhere=ctx.reuse, into=Path(cfg.log_dir) / cfg.run_name)


def train_or_reuse_vae(ctx: Context, z_dim: int, beta: float, epochs: int, subset: int | None) -> dict:
    """One VAE training run, shared by every experiment that asks for the same settings; a finished run is
    read back, an interrupted one resumes from its last checkpoint."""
    cfg = vae_run_config(ctx, z_dim, beta, epochs, subset)

    def train() -> dict:
        ctx.log(f"training VAE z={z_dim} β={beta:g} for {epochs} epochs → {cfg.log_dir}/{cfg.run_name}")
        return train_vae(cfg)

    return _found(ctx, cfg, train)


def pretrain_concurrently(ctx: Context, experiments: list[str], concurrent: int) -> list[dict]:
    """Train the VAEs that ``experiments`` need and nobody has trained yet, ``concurrent`` at a time in their own
    processes (``vaeadv.vae.sweep``), so the experiments then find them finished. Returns the runs' outcomes."""
    from vaeadv.vae.sweep import run_many

    plans = planned_runs(ctx.scale)
    configs = {}
    for name in experiments:
        for settings in plans.get(name, []):
            cfg = vae_run_config(ctx, *settings)
            configs[cfg.run_name] = cfg
    missing = [cfg for cfg in configs.values() if _found(ctx, cfg, lambda: None) is None]
    if not missing:
        return []
    return run_many(missing, concurrent, summary=ctx.runs / "vae" / "concurrent.json", say=ctx.log)


def evaluated_vae(ctx: Context, run: dict):
    """A run's best model, on the GPU when there is one: the likelihood estimates decode up to a million latents
    per model (IWAE with K = 100 on 10,000 images), minutes on a CPU and seconds on a GPU. The random draws come
    from CPU generators either way."""
    return load_vae(ctx.local(run["best_checkpoint"])).to("cuda" if torch.cuda.is_available() else "cpu")


def _test_images(ctx: Context, count: int, levels: int = 16) -> torch.Tensor:
    from vaeadv.data import load_dataset, quantize

    data = load_dataset("mnist", ctx.data_dir, download=ctx.download)
    return quantize(data.x_test[:count], levels)


def sample_epochs(epochs: int, every: int) -> list[int]:
    """The assignment's 0 / 10 / 80 (before, an eighth of the way, the end) for a run of ``epochs``."""
    early = max(every, round(epochs / 8 / every) * every)
    return sorted({0, min(early, epochs), epochs})


def vae_main(ctx: Context) -> dict:
    s = ctx.scale
    run = train_or_reuse_vae(ctx, *planned_runs(s)["vae_main"][0])
    run_dir = ctx.local(run["run_dir"])
    model = evaluated_vae(ctx, run)
    imgs = _test_images(ctx, s.vae_eval_images)
    evaluation = evaluate_vae(model, imgs, iw_samples=s.iw_samples)
    with torch.no_grad():
        mean, log_std = model.encoder(imgs[:256].to(model.decoder.device).long())
    grids = {e: run_dir / f"epoch_{e}_samples.png" for e in sample_epochs(s.vae_epochs, s.vae_sample_every)}
    return {
        "data": run["data"], "train_images": run["train_images"], "epochs": run["epochs_completed"],
        "best_epoch": run["best_epoch"], "best_val_bpd": run["best_val_bpd"], "test_bpd": run["test_bpd"],
        "history": [{k: h.get(k) for k in ("epoch", "train_bpd", "val_bpd")} for h in run["history"]],
        "evaluation": {k: v for k, v in evaluation.items() if k != "kl_per_dim"},
        "curves": ctx.rel(run_dir / "bpd_curves.png"),
        "samples": {str(e): ctx.rel(p) for e, p in grids.items() if p.exists()},
        "q16_kl": mc_kl_vs_closed_form(mean, log_std),
        "train_seconds": run.get("wall_time_s", run.get("wall_time_s_this_session")),  # older runs: one session
    }


def vae_manifold(ctx: Context) -> dict:
    s = ctx.scale
    run = train_or_reuse_vae(ctx, *planned_runs(s)["vae_manifold"][0])
    model = evaluated_vae(ctx, run)
    evaluation = evaluate_vae(model, _test_images(ctx, s.vae_eval_images), iw_samples=s.iw_samples)
    manifold = ctx.local(run["run_dir"]) / "vae_manifold.png"
    if not manifold.exists():  # a run finished by an older version, or resumed after its end
        from vaeadv.vae.viz import visualize_manifold

        save_image(visualize_manifold(model.decoder, 20), manifold)
    return {"epochs": run["epochs_completed"], "test_bpd": run["test_bpd"],
            "evaluation": {k: v for k, v in evaluation.items() if k != "kl_per_dim"},
            "manifold": ctx.rel(manifold)}


def q12_prior_vs_importance(ctx: Context) -> dict:
    """Per z_dim: ELBO, IWAE and the naive prior-sampling estimate with L/10 and L samples (all bpd)."""
    s = ctx.scale
    imgs = _test_images(ctx, s.q12_images)
    rows = []
    for settings in planned_runs(s)["q12_prior_vs_importance"]:
        z_dim = settings[0]
        run = train_or_reuse_vae(ctx, *settings)
        model = evaluated_vae(ctx, run)
        ev = evaluate_vae(model, imgs, iw_samples=s.iw_samples)
        few = max(1, s.prior_samples // 10)
        rows.append({"z_dim": z_dim, "elbo_bpd": ev["elbo_bpd"], "iwae_bpd": ev["iwae_bpd"],
                     f"prior_{few}_bpd": prior_sampling_bpd(model, imgs, few),
                     f"prior_{s.prior_samples}_bpd": prior_sampling_bpd(model, imgs, s.prior_samples)})
    return {"images": len(imgs), "iw_samples": s.iw_samples, "prior_samples": [max(1, s.prior_samples // 10),
                                                                               s.prior_samples], "rows": rows}


def reconstructions(model, imgs: torch.Tensor) -> torch.Tensor:
    """Originals above their reconstructions (decoder mode at the posterior mean), as one 8-wide grid."""
    with torch.no_grad():
        mean, _ = model.encoder(imgs.to(model.decoder.device).long())
        recon = model.decoder(mean).argmax(1, keepdim=True).cpu()
    levels = model.hparams.levels
    both = torch.cat([levels_to_unit(imgs, levels), levels_to_unit(recon, levels)])
    return make_grid(both, nrow=8, pad_value=0.5)


def beta_sweep(ctx: Context) -> dict:
    s = ctx.scale
    imgs = _test_images(ctx, s.beta_eval_images)
    rows = []
    for settings in planned_runs(s)["beta_sweep"]:
        beta = settings[1]
        run = train_or_reuse_vae(ctx, *settings)
        run_dir = ctx.local(run["run_dir"])
        model = evaluated_vae(ctx, run)
        ev = evaluate_vae(model, imgs, iw_samples=s.beta_iw_samples)
        recon = save_image(reconstructions(model, imgs[:16]), run_dir / "reconstructions.png")
        # drawn from the evaluated (best) model itself, like the reconstructions: a training run's grids may not
        # include its final epoch (runs trained before the callback saved the last one)
        samples = save_image(sample_grid(model), run_dir / "prior_samples.png")
        rows.append({"beta": beta, "test_bpd": run["test_bpd"], "elbo_bpd": ev["elbo_bpd"],
                     "iwae_bpd": ev["iwae_bpd"], "kl_nats": ev["kl_nats"],
                     "reconstruction_nats": ev["reconstruction_nats"], "active_units": ev["active_units"],
                     "samples": ctx.rel(samples),
                     "reconstructions": ctx.rel(recon)})
    figure = _plot_beta(rows, ctx.figures / "beta_sweep.png")
    return {"z_dim": 20, "epochs": s.beta_epochs, "eval_images": len(imgs), "iw_samples": s.beta_iw_samples,
            "test_images": run.get("test_images"), "rows": rows, "figure": ctx.rel(figure) if figure else None}


def _plot_beta(rows: list[dict], path: Path) -> Path | None:
    plt = pyplot()
    betas = [r["beta"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, key, label in zip(axes, ("iwae_bpd", "kl_nats", "active_units"),
                              ("test IWAE bpd", "KL(q(z|x) || p(z)) [nats]", "active units (of 20)"), strict=True):
        ax.plot(betas, [r[key] for r in rows], "o-")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("β")
        if key == "active_units":
            ax.set_ylim(0, 20.5)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def compression(ctx: Context) -> dict:
    """Q1.8 made literal: the z=20 VAE compresses the first ``compress_images`` test images with bits-back ANS,
    decoded again and compared bit for bit, beside its ELBO/IWAE and the generic compressors."""
    import numpy as np

    from vaeadv.vae.compress import compress, decompress, generic_baselines

    s = ctx.scale
    run = train_or_reuse_vae(ctx, *planned_runs(s)["compression"][0])
    model = load_vae(ctx.local(run["best_checkpoint"])).cpu()
    levels = _test_images(ctx, s.compress_images)
    images = levels[:, 0].numpy().astype(np.uint8)
    path = ctx.runs / "compression" / "test.bbans"
    coded = compress(model, images, path)
    back, decoded = decompress(model, path)
    ev = evaluate_vae(model, levels, iw_samples=s.iw_samples)
    return {"images": len(images), "bits_per_pixel": coded["bits_per_pixel"], "initial_bits": coded["initial_bits"],
            "verified": bool(np.array_equal(back, images)), "elbo_bpd": ev["elbo_bpd"], "iwae_bpd": ev["iwae_bpd"],
            "iw_samples": ev["iw_samples"], "gap_to_elbo": coded["bits_per_pixel"] / ev["elbo_bpd"] - 1,
            "encode_images_per_second": coded["encode_images_per_second"],
            "decode_images_per_second": decoded["decode_images_per_second"], "generic": generic_baselines(images)}
