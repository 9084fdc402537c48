"""Results → report. Every number printed here is read from this run's stored results at render time;
a result that is missing (never run, deleted, or produced under other settings) renders as a
'Missing' note, never as an older number."""

from __future__ import annotations

import json

from vaeadv.report.answers import answers, masking_gaps
from vaeadv.report.comparisons import (
    CLEAN_ALL,
    DIFFERENCE_COLUMNS,
    DIFFERENCES_FROM_COURSE,
    SHIPPED_STANDARD,
    controlled_differences,
    course_rows,
    kept_epoch,
    kept_epochs,
)
from vaeadv.report.document import Bullets, Document, Figure, Heading, Missing, Para, Table
from vaeadv.report.scales import Scale
from vaeadv.robust.kinds import NORM, PIXEL
from vaeadv.robust.masking import GAP, LARGEST_EPS_255, RESTARTS, SLACK, ZERO, verdict_of
from vaeadv.stats import percent_with_ci


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def num(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def pct_ci(x: float | None, n: int | None) -> str:
    """An accuracy with its 95% interval where the number of images is known (older results lack it); a table
    cell shows "—" where the answers' ``quoting.pct_ci`` says "(missing)"."""
    return pct(x) if x is None else percent_with_ci(x, n)


def _missing(name: str, scale: Scale) -> Missing:
    return Missing(f"results of experiment `{name}` are not in this report folder",
                   f"Run `vaeadv report --scale {scale.name}` (it resumes) to produce them.")


def build(results: dict[str, dict | None], scale: Scale, meta: dict) -> Document:
    doc = Document(f"vaeadv report — VAEs and adversarial attacks (scale: {scale.name})")
    _header(doc, scale, meta)
    _compute(doc, results)
    for part, sections in PARTS:
        doc.add(Heading(part))
        for name, heading, section in sections:
            if name not in results:  # not an experiment of this scale
                continue
            doc.add(Heading(heading, 3))
            if results.get(name) is None:
                doc.add(_missing(name, scale))
            else:
                section(doc, results[name])
    doc.add(Heading("Answers to the questions"))
    for question, text in answers(results):
        doc.add(Para(f"**{question}** {text}"))
    return doc


def _header(doc: Document, scale: Scale, meta: dict) -> None:
    read = (", or read by it from the committed diagnoses its notes name (the attack-loss table's models other "
            "than the shipped one)") if scale.ablation_diagnoses or scale.smoothing_pair else ""
    doc.add(Para(f"**Scale:** `{scale.name}` — {scale.summary}. Every number below was produced at this scale "
                 f"by `vaeadv report --scale {scale.name}`{read}; results of other settings are never shown."))
    doc.add(Bullets([f"**Data:** {d}" for d in meta.get("data", [])] + [
        f"**Hardware:** {meta.get('hardware', '?')}",
        f"**Wall time:** {meta.get('wall_time', '?')}",
        f"**Versions:** {meta.get('versions', '?')}",
        f"**Written:** {meta.get('written', '?')}"]))
    reductions = scale.reductions()
    if reductions:
        doc.add(Para("**Reductions from the assignment's settings at this scale:**"), Bullets(reductions))


def _compute(doc: Document, results: dict[str, dict | None]) -> None:
    """Wall time and hardware per piece, as each was measured when it ran (pieces may run on different days)."""
    rows = [[name, num(r["wall_seconds"] / 60, 1), r.get("hardware", "?")] for name, r in results.items()
            if r and r.get("wall_seconds") is not None]
    together = {json.dumps(r["concurrent_training"], sort_keys=True): r["concurrent_training"]
                for r in results.values() if r and r.get("concurrent_training")}
    rows += [[f"Part 1's VAEs, trained {c['concurrent']} at a time (before the experiments above)",
              num(c["wall_seconds"] / 60, 1), c["hardware"]] for c in together.values()]
    if rows:
        doc.add(Table(["experiment", "wall time (min)", "hardware"], rows,
                      "each piece as it ran; a training run or a diagnosis reused from an earlier run (`--reuse`) is "
                      "not counted here: a training's time is in the tables below (train min), a committed "
                      "diagnosis's attack times in its diagnosis.json"))


def _vae_main(doc: Document, r: dict) -> None:
    ev = r["evaluation"]
    doc.add(Figure(r["curves"], f"train/validation bpd per epoch, z=20, {r['train_images']} training images"),
            Table(["quantity", "value"], [
                ["epochs", str(r["epochs"])], ["best validation bpd (epoch)", f"{num(r['best_val_bpd'])} "
                                               f"({r['best_epoch']})"],
                ["test bpd (ELBO, full test set, best checkpoint)", num(r["test_bpd"])],
                [f"test ELBO bpd ({ev['images']} images)", num(ev["elbo_bpd"])],
                [f"test IWAE bpd, K={ev['iw_samples']} ({ev['images']} images)", num(ev["iwae_bpd"])],
                ["reconstruction / KL (nats per image)", f"{num(ev['reconstruction_nats'], 1)} / "
                                                         f"{num(ev['kl_nats'], 1)}"],
                ["active latent units (of 20)", str(ev["active_units"])],
                ["train min", num(r["train_seconds"] / 60, 0) if r.get("train_seconds") else "—"]]))
    doc.add(Heading("Q1.9 — samples during training", 3))
    for epoch, path in r["samples"].items():
        doc.add(Figure(path, f"64 samples after {epoch} epochs" if epoch != "0" else "64 samples before training"))
    doc.add(Heading("Q1.6 — Monte-Carlo KL against the closed form", 3))
    kl = r["q16_kl"]
    mc = [[f"Monte Carlo, {k.split('_')[1]} sample(s)", num(v, 3)] for k, v in kl.items() if k != "closed_form"]
    doc.add(Table(["estimator", "KL (nats, mean over 256 test posteriors)"],
                  [["closed form", num(kl["closed_form"], 3)], *mc]))


def _manifold(doc: Document, r: dict) -> None:
    doc.add(Figure(r["manifold"], f"decoder means on a 20×20 grid of z = Φ⁻¹(p), z_dim = 2, after {r['epochs']} "
                                  f"epochs (test bpd {num(r['test_bpd'])})"))


def _beta(doc: Document, r: dict) -> None:
    """Two evaluations side by side, each labelled with what it covers: the run's own test bpd (its best-validation
    checkpoint on the whole test set) and the report's evaluation of that checkpoint on the first images."""
    rows = [[f"{x['beta']:g}", num(x["test_bpd"]), num(x.get("elbo_bpd")), num(x["iwae_bpd"]),
             num(x["kl_nats"], 2), num(x["reconstruction_nats"], 1), str(x["active_units"])] for x in r["rows"]]
    k = r.get("iw_samples")
    iwae = f"IWAE bpd (K = {k})" if k else "IWAE bpd"
    n = r["eval_images"]
    whole = f"all {r['test_images']:,}" if r.get("test_images") else "all"
    doc.add(Table(["β", f"test bpd ({whole} test images)", f"ELBO bpd ({n:,})", f"{iwae} ({n:,})",
                   f"KL (nats, {n:,})", f"reconstruction (nats, {n:,})", f"active units ({n:,})"], rows,
                  f"{r['epochs']} epochs per β (training images: see the scale's reductions; none listed means "
                  "all). Active units: latent dimensions whose posterior mean varies over x with a variance above "
                  "0.01. Test bpd: the negative ELBO of the best-validation checkpoint on the "
                  f"whole test set, measured by the run itself; the other columns evaluate the same checkpoint on "
                  f"the first {n:,} test images" + (f" (IWAE with K = {k} importance samples per image)" if k
                                                     else "") + ". bpd is the β = 1 ELBO of each model (the "
                  "training loss is rec + β·KL), so the models compare as density models."),
            Figure(r["figure"], f"IWAE bpd{f' (K = {k})' if k else ''}, KL and active units against β, on the "
                                f"first {n:,} test images"))
    for x in r["rows"]:
        doc.add(Figure(x["samples"], f"β = {x['beta']:g}: samples from the prior"),
                Figure(x["reconstructions"], f"β = {x['beta']:g}: test images (top two rows) and reconstructions"))


def _q12(doc: Document, r: dict) -> None:
    few, many = r["prior_samples"]
    rows = [[str(x["z_dim"]), num(x["elbo_bpd"]), num(x["iwae_bpd"]), num(x[f"prior_{few}_bpd"]),
             num(x[f"prior_{many}_bpd"])] for x in r["rows"]]
    doc.add(Table(["z_dim", "ELBO bpd", f"IWAE bpd (K={r['iw_samples']})", f"prior MC, L={few}",
                   f"prior MC, L={many}"], rows,
                  f"bpd on {r['images']} test images; lower is a tighter estimate of −log p(x)"))


def _compression(doc: Document, r: dict) -> None:
    rows = [["vaeadv bits-back ANS (the whole file)", num(r["bits_per_pixel"]), "yes" if r["verified"] else "NO"],
            ["the model's negative ELBO", num(r["elbo_bpd"]), "—"],
            [f"the model's IWAE bound (K={r['iw_samples']})", num(r["iwae_bpd"]), "—"],
            *[[name, num(bpp), "yes"] for name, bpp in r["generic"].items()]]
    doc.add(Table(["coder", "bits per pixel", "lossless round trip"], rows,
                  f"{r['images']} test images at 16 levels, measured in one run; bits-back encodes at "
                  f"{r['encode_images_per_second']:.0f} and decodes at {r['decode_images_per_second']:.0f} images/s "
                  f"on the CPU; the file is {100 * r['gap_to_elbo']:+.2f}% from the ELBO (header and "
                  f"{r['initial_bits']} initial bits included)"))


def _matrix(doc: Document, r: dict) -> None:
    header = ["model", "clean (all test images)", "clean (attacked set)", *r["attacks"], "s/epoch", "train min",
              "kept epoch"]
    n = r["images"]
    read = SHIPPED_STANDARD.find(r["rows"])  # the shipped file, named by the scale, never chosen by this table
    rows = [[x["model"] + (" ★" if read is x else "") + (" †" if x.get("partial") else ""),
             pct_ci(x["clean_test_accuracy"], x.get("test_images")), pct_ci(x["clean_accuracy"], n),
             *[pct_ci(x["robust_accuracy"].get(a), n) for a in r["attacks"]],
             num(x["seconds_per_epoch"], 1),
             num(x["train_seconds"] / 60, 0) if x.get("train_seconds") else "—",
             f"{kept_epoch(x)} of {x['epochs']}" if kept_epoch(x) else "—"] for x in r["rows"]]
    eps = ", ".join(f"{e:.4f}" for e in r["eps_pixel_of_template"])
    data = {x.get("data") for x in r["rows"]}  # the pixels are quoted only where every row read the same
    source = r.get("data") or ""
    pixels = source.split("; ", 1)[1] if len(data) == 1 and "; " in source else ""
    doc.add(Table(header, rows, f"attacks on the {r['evaluated_on']}; PGD with {r['pgd_steps']} steps, no random "
                                f"start, α = ε/{r['pgd_steps']} at the template's ε and 2.5ε/{r['pgd_steps']} at "
                                "8/255; [low, high] = 95% Wilson interval. The FGSM and PGD defenses train against the "
                                "template's attacks at its ε (FGSM in the loss with weight 0.5; PGD with the "
                                "settings above in the batch). Kept epoch: the epoch whose weights are scored, the "
                                "one with the best clean accuracy on the 2,000 held-out training images (the "
                                "template's rule, which reads test images instead); rows without a pretrained "
                                "file in their name are trained from scratch with the 'pretrain' recipe. "
                                f"The template's ε = 0.1 in normalised units is ({eps}) per channel in pixel "
                                f"units ({min(r['eps_pixel_of_template']) * 255:.1f}–"
                                f"{max(r['eps_pixel_of_template']) * 255:.1f}/255)."
                                + (f" Test pixels, alike for every model: {pixels}." if pixels else "")),
            Para(("★ = the pretrained standard model that Q2.1 reads (the shipped file); no row is chosen by its "
                  "accuracy in this table." if read else "") + ("" if any(
                x.get("pretrained") for x in r["rows"]) else " No pretrained weights can be downloaded on this "
                "machine; `vaeadv robust train --pretrained FILE|URL` adds that row where they can be.")))
    partial = [x for x in r["rows"] if x.get("partial")]
    if partial:
        doc.add(Para("† " + "; ".join(f"{x['model']}: {x['partial']}" for x in partial) + " (same images, same "
                     "attack settings); its other columns need the weights, which the next full run retrains."))
    if r.get("missing"):
        doc.add(Missing("not yet in this matrix: " + "; ".join(r["missing"]),
                        "Run the report again without --no-train: it trains them and keeps every "
                        "row measured so far."))
    _masking(doc, r)
    _controls(doc, r)
    _course(doc, r)
    shown = next((x for x in r["rows"] if x.get("pictures")), {"model": "the standard model"})
    doc.add(Figure(shown.get("pictures"), f"adversarial examples against {shown['model']}: per attack the first two "
                                          "test images (in dataset order) that the attack succeeded on; original, "
                                          "adversarial, amplified perturbation"))


def _masking(doc: Document, r: dict) -> None:
    """Gradient masking, shown where it happens: PGD-10 against AutoAttack-lite, per model and ε, with the other
    checks' attacks where the matrix has them."""
    gaps = masking_gaps(r)
    if not gaps:
        return
    doc.add(Heading("Gradient masking: the checks per model and ε", 4),
            Table(["model", "ε", "FGSM", "PGD-10", f"PGD, {RESTARTS} starts", "APGD-CE+T",
                   "best PGD − APGD (points)", f"PGD {LARGEST_EPS_255}/255", "verdict"],
                  [[g["model"], g["eps"], *map(_measured, (g["fgsm"], g["pgd"], g["pgd_restarts"], g["strong"])),
                    f"{100 * g['best_gap']:+.1f}", _measured(g["largest_eps"]), g["verdict"]] for g in gaps],
                  "the checks of Carlini et al. (2019) that these columns allow: (a) the strongest PGD leaves "
                  f"no more than FGSM ({100 * SLACK:.0f} point of slack); (b) PGD at ε = {LARGEST_EPS_255}/255 "
                  f"leaves at most {100 * ZERO:.0f}%; (c) PGD with Madry et al.'s step (α = 2.5ε/10) from "
                  f"{RESTARTS} random starts leaves at most {100 * GAP:.0f} points less than PGD-10 (at 0.1 the "
                  "template's, α = ε/10; at 8/255 α = 2.5ε/10 without random starts); (d) the parameter-free APGD "
                  "(100 iterations, CE loss, then the targeted DLR loss on the survivors) leaves at most "
                  f"{100 * GAP:.0f} points less than the best PGD (the lower of PGD-10 and PGD from {RESTARTS} random "
                  "starts, both on the cross-entropy: the gap column). Only (c) failing means PGD-10 is too weak an "
                  "attack; (a), (b) or (d) failing means the model's loss surface misleads the gradient attacks "
                  "(gradient masking). Where APGD goes further than PGD-10 and (c) was not measured, the two "
                  "readings cannot be told apart, and the verdict says so. Each failed gap carries its Newcombe 95% "
                  "interval; where a check's interval reaches past its threshold, its pass or failure is not "
                  "resolved on these images, and the verdict says so. Where PGD-10 is far above APGD only the APGD "
                  "number estimates the robustness. — where a column was not measured"))


def _measured(value: float | None) -> str:
    return "—" if value is None else pct(value)


def _controls(doc: Document, r: dict) -> None:
    """The matrix's controlled comparisons: what one setting changed, with Newcombe's 95% interval."""
    found = controlled_differences(r)
    if not found:
        return
    columns = [c for c in DIFFERENCE_COLUMNS if any(c in f["differences"] for f in found)]
    doc.add(Heading("Controlled comparisons: what one setting changed", 4),
            Table(["comparison", *columns],
                  [[f"{f['what']} ({f['model']} − {f['control']}{_kept_label(f)})",
                    *[_points(f["differences"].get(c)) for c in columns]] for f in found],
                  f"differences in accuracy, percentage points: '{CLEAN_ALL}' on all test images, the other "
                  "columns on the same attacked images; [low, high] = "
                  "Newcombe's 95% interval for a difference of two proportions (for two independent samples; on "
                  "the same images it is conservative). An interval that excludes 0 is a difference this run "
                  "shows. Each side is one training run with one seed: the intervals cover which test images "
                  "were drawn, not run-to-run variation, which is not measured here"))


def _kept_label(found: dict) -> str:
    """The epochs each side was scored at, where both were trained here."""
    kept = kept_epochs(found)
    return "" if kept is None else f"; kept epochs {kept[0]} and {kept[1]}"


def _points(d: tuple[float, float, float] | None) -> str:
    return "—" if d is None else f"{100 * d[0]:+.1f} [{100 * d[1]:+.1f}, {100 * d[2]:+.1f}]"


def _course(doc: Document, r: dict) -> None:
    """The template's matrix beside the course's reference figures, and how the setups differ."""
    rows = course_rows(r)
    if not rows:
        return
    n = r["images"]

    def course(v) -> str:
        return "—" if v is None else f"{100 * v[0]:.0f}–{100 * v[1]:.0f}%" if isinstance(v, tuple) else pct(v)

    doc.add(Heading("Beside the course's reference figures", 4),
            Table(["model", "measure", "course", "ours (column)"],
                  [[x["model"], x["measure"], course(x["course"]),
                    "; ".join(f"{pct_ci(v, n)} ({c})" for c, v in x["ours"].items())] for x in rows],
                  "the course's figures are others' runs of the template on a model we cannot obtain offline "
                  "(— where the course gives none); ours: the run matrix above, [low, high] = 95% Wilson interval"),
            Para("How our setup differs from the course's:"), Bullets(list(DIFFERENCES_FROM_COURSE)))


# the plain PGD's step at each ε of the diagnosis: the template's at its own ε, Madry et al.'s at 8/255
PGD_STEPS = {NORM: "the template's: α = ε/10", PIXEL: "α = 2.5ε/10"}
# the diagnosis's attacks at each ε, in the attack-loss table's order, with their names there
DIAGNOSIS_ROWS = {
    "clean": "none (clean)",
    "fgsm-ce": "FGSM, cross-entropy", "fgsm-nll": "FGSM, nll on the raw logits (the template's loss)",
    "fgsm-margin": "FGSM, margin (max other logit − true logit)",
    "pgd-ce": "PGD-10 ({step}, no random start), cross-entropy", "pgd-nll": "PGD-10, nll on logits",
    "pgd-margin": "PGD-10, margin", "pgd-restarts": "PGD-10 with α = 2.5ε/10, the best of 5 random starts",
    "apgd-ce+t": "APGD-CE, then APGD-T on the survivors (100 iterations each)",
}


def _attack_losses(doc: Document, r: dict) -> None:
    """Per ε, every attack loss and optimiser against each diagnosed model, then PGD at large ε and the verdicts."""
    models = r["models"]

    def cell(m: dict, key: str) -> str:
        ci = (m.get("intervals") or {}).get(key)
        return "—" if ci is None else f"{100 * ci['accuracy']:.1f}% [{100 * ci['ci95_low']:.1f}, " \
            f"{100 * ci['ci95_high']:.1f}]"

    labels = [m["label"] for m in models]
    for eps in models[0]["per_eps"]:
        step = PGD_STEPS.get(eps, "α = 2.5ε/10")
        rows = [[name.format(step=step), *[cell(m, key if key == "clean" else f"{eps} {key}") for m in models]]
                for key, name in DIAGNOSIS_ROWS.items()]
        rows.append(["verdict of the masking checks",
                     *[verdict_of(m["per_eps"][eps]["accuracies"], eps, r["images"]) for m in models]])
        doc.add(Table(["attack at ε = " + eps, *labels], rows,
                      f"the {r['evaluated_on']}, fp32; [low, high] = 95% Wilson interval. The models differ in the "
                      "training settings their labels name, and in nothing else unless a label says so"))
    large = [f"pgd@{e}/255" for e in models[0].get("large_eps_255") or []]
    if large:
        doc.add(Table(["PGD-10 (α = 2.5ε/10) at large ε", *labels],
                      [[key.removeprefix("pgd@"), *[cell(m, key) for m in models]] for key in large],
                      "check (b): accuracy must fall to about 0 as ε grows"))
    if r.get("missing"):
        doc.add(Missing("not in this table: " + "; ".join(r["missing"]),
                        "Its diagnosis is committed under docs/results; run the report with --reuse docs/results."))


def _curves(doc: Document, r: dict) -> None:
    doc.add(Figure(r["figure"], f"accuracy against ε on the {r['evaluated_on']}: random-sign noise, FGSM and "
                                f"PGD-{r['pgd_steps']} of the same L∞ size"))
    if r.get("missing"):
        doc.add(Missing("curves not yet drawn for: " + "; ".join(r["missing"]),
                        "They need the models' weights: run the report again without --no-train."))
    name = (r.get("models") or {}).get("standard", "standard model")
    images = f", {r['evaluated_on']}" if r.get("evaluated_on") else ""
    doc.add(Table([f"attack ({name}, ε = 8/255{images})", "accuracy", "ms per image"],
                  [[k.upper(), pct_ci(v["accuracy"], r.get("images")), num(v["ms_per_image"], 2)]
                   for k, v in r["cost"].items()]))


def _transfer(doc: Document, r: dict) -> None:
    names, n = list(r["clean"]), r.get("images")
    sizes = " and ".join(f"{n}: {k} images" for n, k in r["train_images_each"].items())
    doc.add(Para(f"Models A and B: standard ResNet18s trained on disjoint halves of the training images ({sizes}); "
                 f"clean accuracy A {pct_ci(r['clean']['A'], n)}, B {pct_ci(r['clean']['B'], n)} "
                 f"on the {r['evaluated_on']}."))
    for label, by_src in r["matrix"].items():
        doc.add(Table(["crafted on ↓ / evaluated on →", *names],
                      [[src, *[pct_ci(by_src[src][dst], n) for dst in names]] for src in by_src],
                      label + ("; [low, high] = 95% Wilson interval" if n else "")))


PARTS = [
    ("Part 1 — Variational autoencoders on 4-bit MNIST", [
        ("vae_main", "Q1.8 — training curves and test bpd (z = 20)", _vae_main),
        ("vae_manifold", "Q1.10 — the 2-D latent manifold", _manifold),
        ("beta_sweep", "Q1.11 — β-VAE sweep (z = 20)", _beta),
        ("q12_prior_vs_importance", "Q1.2 — naive prior sampling against importance sampling, as z_dim grows", _q12),
        ("compression", "Q1.8 — bpd made literal: lossless compression with the VAE (bits-back ANS)", _compression),
    ]),
    ("Part 2 — Adversarial attacks and defenses on CIFAR-10", [
        ("adversarial_matrix", "Q2.1–Q2.3 — the run matrix: every model against every attack", _matrix),
        ("attack_losses", "Q2.1 — the attack-loss table: is the robustness real? (the shipped model and an ablation)",
         _attack_losses),
        ("robustness_curves", "Accuracy against ε, random noise against FGSM, FGSM against PGD", _curves),
        ("transfer", "Q2.1 — transfer between models trained on disjoint halves", _transfer),
    ]),
]
