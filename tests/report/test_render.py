"""The Part 2 tables print every accuracy with its 95% Wilson interval where the number of images is stored."""

from tests.report.helpers import newcombe
from vaeadv.report.document import to_markdown
from vaeadv.report.render import build
from vaeadv.report.scales import SCALES

ROW = {"model": "std", "defense": "standard", "augment": True, "pretrained": "vaeadv-resnet18",
       "clean_test_accuracy": 0.8757, "test_images": 10000, "clean_accuracy": 0.898, "robust_accuracy": {"FGSM": 0.0},
       "seconds_per_epoch": 1.0,
       "train_seconds": 7655.4}
MATRIX = {"images": 1000, "attacks": ["FGSM"], "rows": [ROW], "evaluated_on": "x",
          "pgd_steps": 10, "eps_pixel_of_template": [0.02, 0.02, 0.02]}
TRANSFER = {"evaluated_on": "x", "images": 1000, "train_images_each": {"A": 24000, "B": 24000},
            "clean": {"A": 0.898, "B": 0.5}, "matrix": {"FGSM ε=8/255": {"A": {"A": 0.0, "B": 0.5},
                                                                          "B": {"A": 0.5, "B": 0.0}}}}


def _markdown(tmp_path, results):
    return to_markdown(build(results, SCALES["real"], {}), tmp_path)


def test_matrix_and_transfer_cells_carry_wilson_intervals(tmp_path):
    md = _markdown(tmp_path, {"adversarial_matrix": MATRIX, "transfer": TRANSFER})
    # 8757/10000: Wilson [0.8691, 0.8820]; 898/1000: [0.8777, 0.9153]; 0/1000: [0, 0.0038]; 500/1000: [0.469, 0.531]
    assert "| std ★ | 87.6% [86.9, 88.2] | 89.8% [87.8, 91.5] | 0.0% [0.0, 0.4] | 1.0 | 128 |" in md
    # the star marks the pretrained model the questions read, not the best by test accuracy
    better = {**ROW, "model": "better", "pretrained": None, "clean_test_accuracy": 0.95}
    starred = _markdown(tmp_path, {"adversarial_matrix": {**MATRIX, "rows": [better, ROW]}})
    assert "| std ★ |" in starred and "| better |" in starred
    assert "clean accuracy A 89.8% [87.8, 91.5], B 50.0% [46.9, 53.1]" in md
    assert "| A | 0.0% [0.0, 0.4] | 50.0% [46.9, 53.1] |" in md and "95% Wilson interval" in md


def test_results_stored_without_image_counts_render_plain_percentages(tmp_path):
    old = {k: v for k, v in TRANSFER.items() if k != "images"}
    md = _markdown(tmp_path, {"transfer": old})
    assert "| A | 0.0% | 50.0% |" in md and "Wilson" not in md.split("Answers to the questions")[0]


def test_every_piece_states_its_wall_time_and_hardware(tmp_path):
    timed = {**MATRIX, "wall_seconds": 848.0, "hardware": "x86_64, 2 CPU cores"}
    md = _markdown(tmp_path, {"adversarial_matrix": timed, "transfer": TRANSFER})
    assert "| adversarial_matrix | 14.1 | x86_64, 2 CPU cores |" in md  # 848 s = 14.13 min
    assert "| transfer |" not in md  # a result stored without its wall time gets no made-up row


def test_the_beta_table_reads_each_column_from_its_own_field_and_says_what_it_covers(tmp_path):
    row = {"beta": 2.0, "test_bpd": 0.5432, "elbo_bpd": 0.5111, "iwae_bpd": 0.4999, "kl_nats": 12.345,
           "reconstruction_nats": 250.0, "active_units": 7, "samples": None, "reconstructions": None}
    beta = {"z_dim": 20, "epochs": 20, "eval_images": 1000, "iw_samples": 20, "test_images": 10000, "rows": [row],
            "figure": None}
    md = _markdown(tmp_path, {"beta_sweep": beta})
    assert ("| β | test bpd (all 10,000 test images) | ELBO bpd (1,000) | IWAE bpd (K = 20) (1,000) | KL (nats, 1,000) "
            "| reconstruction (nats, 1,000) | active units (1,000) |") in md
    assert "| 2 | 0.5432 | 0.5111 | 0.4999 | 12.35 | 250.0 | 7 |" in md
    assert "first 1,000 test images (IWAE with K = 20 importance samples per image)" in md


def test_the_masking_table_shows_every_check_s_attack_and_a_dash_where_one_was_not_measured(tmp_path):
    robust = {"FGSM ε=8/255": 0.339, "PGD ε=8/255": 0.216, "PGD ε=8/255, 5 random starts": 0.13,
              "APGD-CE+T ε=8/255": 0.099, "PGD ε=64/255": 0.0,
              "FGSM ε=0.1 (norm.)": 0.4, "PGD ε=0.1 (norm.)": 0.3, "APGD-CE+T ε=0.1 (norm.)": 0.1}
    md = _markdown(tmp_path, {"adversarial_matrix": {**MATRIX, "rows": [{**ROW, "robust_accuracy": robust}]}})
    assert ("| model | ε | FGSM | PGD-10 | PGD, 5 starts | APGD-CE+T | best PGD − APGD (points) | PGD 64/255 | verdict "
            "|" in md)
    # 21.6 − 13.0 = 8.6 points found by the restarts (c fails), APGD 3.1 points below them (d passes); on the
    # matrix's 1,000 images the gap carries Newcombe's interval
    _, low, high = newcombe(216, 1000, 130, 1000)
    assert ("| std | 8/255 | 33.9% | 21.6% | 13.0% | 9.9% | +3.1 | 0.0% | PGD-10 without random starts underestimates "
            f"the attack: PGD with α = 2.5ε/10 from random starts leaves 8.6 points [{100 * low:.1f}, "
            f"{100 * high:.1f}] less") in md
    _, low, high = newcombe(300, 1000, 100, 1000)
    assert ("| std | 0.1 (norm.) | 40.0% | 30.0% | — | 10.0% | +20.0 | 0.0% | APGD-CE+T leaves 20.0 points "
            f"[{100 * low:.1f}, {100 * high:.1f}] less than the template's PGD-10 (α = ε/10): gradient masking or a "
            "PGD too weak") in md


def test_the_cost_table_names_the_curves_model_and_gives_intervals_where_the_images_are_counted(tmp_path):
    point = [{"eps": 8 / 255, "accuracy": 0.5}]
    curves = {"evaluated_on": "first 500 test images with exact pixels", "pgd_steps": 10, "figure": "f.png",
              "missing": [], "curves": {"standard": {"noise": point, "fgsm": point, "pgd": point}},
              "cost": {"fgsm": {"accuracy": 0.068, "ms_per_image": 5.27}, "pgd": {"accuracy": 0.0, "ms_per_image": 36}}}
    old = _markdown(tmp_path, {"robustness_curves": curves})
    assert ("| attack (standard model, ε = 8/255, first 500 test images with exact pixels) | accuracy | ms per image |"
            in old and "| FGSM | 6.8% | 5.27 |" in old)  # the table's images named: the matrix attacks 1,000
    named = _markdown(tmp_path, {"robustness_curves": {**curves, "images": 500, "models": {"standard": "std (x)"}}})
    # 34/500: Wilson [4.9, 9.4]
    assert "| attack (std (x), ε = 8/255, first 500 test images with exact pixels) |" in named
    assert "| FGSM | 6.8% [4.9, 9.4] | 5.27 |" in named


def test_the_adversarial_examples_caption_names_the_model_they_attack(tmp_path):
    md = _markdown(tmp_path, {"adversarial_matrix": {**MATRIX, "rows": [{**ROW, "pictures": "figures/a.png"}]}})
    assert "adversarial examples against std: per attack the first two test images" in md


def test_the_matrix_shows_the_epoch_whose_weights_were_scored(tmp_path):
    kept = "runs/a/fgsm/checkpoints/best-epoch=000-val_acc=0.8590.ckpt"  # Lightning counts epochs from 0
    tuned = {**ROW, "model": "ft", "epochs": 5, "checkpoint": kept}
    md = _markdown(tmp_path, {"adversarial_matrix": {**MATRIX, "rows": [ROW, tuned]}})
    assert "| kept epoch |" in md and md.split("| ft |")[1].split("\n")[0].endswith("| 1 of 5 |")
    assert md.split("| std ★ |")[1].split("\n")[0].endswith("| — |")  # shipped weights: no epoch kept here


def test_the_matrix_caption_quotes_the_test_pixels_only_where_every_row_read_the_same(tmp_path):
    source = "$VAEADV_DATA/cifar10 (npz); JPEG-decoded pixels, 1000 test images exact"
    same = {**MATRIX, "data": source, "rows": [{**ROW, "data": source}]}
    assert "Test pixels, alike for every model: JPEG-decoded pixels, 1000 test images exact." in _markdown(
        tmp_path, {"adversarial_matrix": same})
    mixed = {**same, "rows": [{**ROW, "data": source}, {**ROW, "model": "other", "data": "cache/cifar10 (batches)"}]}
    assert "Test pixels" not in _markdown(tmp_path, {"adversarial_matrix": mixed})
    bare = {**MATRIX, "data": "cache/cifar10 (batches)", "rows": [{**ROW, "data": "cache/cifar10 (batches)"}]}
    assert "Test pixels" not in _markdown(tmp_path, {"adversarial_matrix": bare})  # no pixel statement to quote
