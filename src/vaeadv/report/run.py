"""Run (or reuse) every experiment of a scale, then render report.md, report.html and results.json.

Each experiment's result is stored as soon as it finishes (atomically), keyed by the scale's settings;
the training runs underneath resume from their last checkpoints, so an interrupted report continues
where it stopped. Rendering reads only the stored results."""

from __future__ import annotations

import os
import platform
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write_bytes, atomic_write_json, ensure_writable_dir
from vaeadv.registry import weights_sha256
from vaeadv.report import robust_experiments as robust
from vaeadv.report import vae_experiments as vae
from vaeadv.report.attack_losses import attack_losses
from vaeadv.report.context import Context, NeedsTraining
from vaeadv.report.document import to_html, to_markdown
from vaeadv.report.render import build
from vaeadv.report.scales import EXPERIMENT_NAMES, scale_key
from vaeadv.report.store import ResultStore
from vaeadv.robust.config import label_smoothing_changes
from vaeadv.runinfo import hardware

EXPERIMENTS = {
    "vae_main": vae.vae_main,
    "vae_manifold": vae.vae_manifold,
    "beta_sweep": vae.beta_sweep,
    "q12_prior_vs_importance": vae.q12_prior_vs_importance,
    "compression": vae.compression,
    "adversarial_matrix": robust.adversarial_matrix,
    "attack_losses": attack_losses,
    "robustness_curves": robust.robustness_curves,
    "transfer": robust.transfer,
}
assert tuple(EXPERIMENTS) == EXPERIMENT_NAMES


def experiment_config(ctx: Context, name: str) -> dict:
    """The key of an experiment's stored result: the whole scale, the SHA-256 of each shipped weights file its
    models start from (so new weights under an old name make the experiment stale), and the label smoothing of the
    recipes its models train with, where it differs from what it was before it became a setting (results stored
    with the smoothed pretrain recipe are stale for today's)."""
    config = {"experiment": name, "scale": ctx.scale.key(name), "format": 1}
    changed = {r: v for r, v in label_smoothing_changes().items() if r in ctx.scale.recipes(name)}
    if changed:  # a recipe its models train with smooths differently from when results were first keyed
        config["recipe_label_smoothing"] = changed
    weights = ctx.scale.shipped_weights(name)
    if weights:
        config["weights_sha256"] = {w: weights_sha256(w) for w in weights}
    return config


def _view(name: str):
    """An experiment's stored key as it is compared: with only the scale settings the experiment reads (keys stored
    with the whole scale match the narrower ones made now)."""
    return lambda config: {**config, "scale": scale_key(config["scale"], name)}


def stored_result(store: ResultStore, ctx: Context, name: str) -> dict | None:
    """The stored result of experiment ``name`` if the settings it depends on are this context's, else None."""
    return store.get(name, experiment_config(ctx, name), view=_view(name))


def run_experiments(ctx: Context, only: list[str] | None = None, concurrent: int | None = None) -> dict[str, float]:
    """Run what is missing or stale; returns the seconds spent per experiment run now. With ``concurrent``, the
    VAEs those experiments train are trained first, that many at a time in their own processes."""
    store = ResultStore(ctx.out / "results")
    spent = {}
    todo = []
    for name in EXPERIMENTS:
        if (only and name not in only) or name not in ctx.scale.experiments():
            continue
        stored = stored_result(store, ctx, name)
        if stored is not None and not stored.get("missing"):
            ctx.log(f"{name}: done earlier, reused")
        else:
            todo.append(name)
    shared, uses_vaes = {}, vae.planned_runs(ctx.scale)  # how the VAEs were trained, stated where they are used
    if concurrent and ctx.train:
        start = time.perf_counter()
        if vae.pretrain_concurrently(ctx, todo, concurrent):
            seconds = time.perf_counter() - start
            shared = {"concurrent_training": {"concurrent": concurrent, "wall_seconds": round(seconds, 1),
                                              "hardware": hardware()}}
            ctx.log(f"VAEs trained {concurrent} at a time in {seconds:.0f} s")
    for name in todo:
        experiment, config = EXPERIMENTS[name], experiment_config(ctx, name)
        ctx.log(f"{name}: running" + (" (what is trained already)" if not ctx.train else ""))
        start = time.perf_counter()
        try:
            result = experiment(ctx)
        except NeedsTraining as why:
            ctx.log(f"{name}: left out ({why}); run without --no-train to train it")
            continue
        spent[name] = time.perf_counter() - start
        if result.get("missing"):
            ctx.log(f"{name}: stored without {', '.join(result['missing'])} (not trained yet)")
        # an experiment resumed from stored parts states its own wall time (the sum of its parts)
        store.put(name, config, {"wall_seconds": round(spent[name], 1), **result, "hardware": hardware(),
                                 **(shared if name in uses_vaes else {}),
                                 "versions": f"torch {torch.__version__}, Python {platform.python_version()}"})
        ctx.log(f"{name}: finished in {spent[name]:.0f} s")
    return spent


def load_results(ctx: Context) -> dict[str, dict | None]:
    store = ResultStore(ctx.out / "results")
    return {name: stored_result(store, ctx, name) for name in ctx.scale.experiments()}


def _recorded(results: dict[str, dict | None], key: str) -> str:
    values = sorted({r.get(key, "not recorded") for r in results.values() if r})
    return "; ".join(values) if values else "—"


def _meta(results: dict[str, dict | None]) -> dict:
    seconds = sum(r.get("wall_seconds", 0) for r in results.values() if r)
    data = []
    if results.get("vae_main"):
        data.append(f"MNIST: {results['vae_main']['data']}")
    if results.get("adversarial_matrix"):
        m = results["adversarial_matrix"]
        data.append(f"CIFAR-10: {m.get('data')}; attacks on the {m['evaluated_on']}")
    done = sum(r is not None for r in results.values())
    return {
        "data": data,
        "hardware": _recorded(results, "hardware"),
        "wall_time": f"{seconds / 60:.1f} min summed over the {done} of {len(results)} experiments present "
                     "(each measured when it ran; training shared between experiments counts once)",
        "versions": _recorded(results, "versions"),
        "written": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render(ctx: Context) -> dict[str, Path]:
    results = load_results(ctx)
    meta = _meta(results)
    doc = build(results, ctx.scale, meta)
    paths = {
        "markdown": atomic_write_bytes(ctx.out / "report.md", to_markdown(doc, ctx.out).encode()),
        "html": atomic_write_bytes(ctx.out / "report.html", to_html(doc, ctx.out).encode()),
        "json": atomic_write_json(ctx.out / "results.json", {"scale": ctx.scale.as_config(), "meta": meta,
                                                            "results": results}),
    }
    return paths


def publish(ctx: Context, dest: str | Path) -> Path:
    """Copy the rendered report, its stored results and exactly the figures it links to into ``dest`` (same
    relative layout, so the links keep working) — e.g. to commit it without the checkpoints and logs."""
    dest = Path(dest)
    md = (ctx.out / "report.md").read_text()
    stored = sorted((ctx.out / "results").rglob("*.json"))  # with the run matrix's rows: a later run resumes
    files = ["report.md", "report.html", "results.json", *(p.relative_to(ctx.out).as_posix() for p in stored)]
    files += re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    if dest.exists() and not dest.is_dir():
        raise VaeadvError(f"--publish {dest}: a file is in the way; give a folder.")
    ensure_writable_dir(dest.parent)
    staging = dest.parent / f".{dest.name}.{os.getpid()}.publishing"
    try:  # build the copy beside it, then swap: a failed publish leaves the previous one whole
        shutil.rmtree(staging, ignore_errors=True)
        for rel in files:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ctx.out / rel, target)
        if dest.exists():
            shutil.rmtree(dest)  # a published report holds one run's files, never leftovers of an older one
        os.replace(staging, dest)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise VaeadvError(f"cannot publish to {dest} ({exc.strerror or exc}).") from None
    return dest
