"""`vaeadv report --scale smoke` end to end on the real data (one run shared by the module), and the
pieces that keep a report honest: configuration-keyed results, resume, missing results shown as missing."""

import json
from pathlib import Path

import pytest

from vaeadv.cli import main
from vaeadv.report import run as report_run
from vaeadv.report.context import Context
from vaeadv.report.scales import SCALES
from vaeadv.runinfo import hardware

SECTIONS = ["Q1.8", "Q1.9", "Q1.6", "Q1.10", "Q1.11", "Q1.2", "bits-back ANS", "run matrix", "Accuracy against ε",
            "transfer between models", "Answers to the questions"]


@pytest.fixture(scope="module")
def smoke_report(real_data_dir, tmp_path_factory, _shared_cache):
    out = tmp_path_factory.mktemp("report") / "smoke"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAEADV_CACHE", str(_shared_cache))
        mp.setenv("VAEADV_OFFLINE", "1")
        assert main(["report", "--scale", "smoke", "--out", str(out), "--data-dir", str(real_data_dir),
                     "--no-download", "--no-progress"]) == 0
    return out


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_smoke_report_renders_every_section_from_its_results(smoke_report):
    md = (smoke_report / "report.md").read_text()
    html = (smoke_report / "report.html").read_text()
    for section in SECTIONS:
        assert section in md and section in html
    assert "Missing" not in md and "Figure missing" not in md
    assert "data:image/png;base64," in html and "<img src=\"runs/" not in html  # self-contained
    results = json.loads((smoke_report / "results.json").read_text())
    assert results["scale"]["name"] == "smoke" and set(results["results"]) == set(SCALES["smoke"].experiments())
    packed = results["results"]["compression"]
    assert packed["verified"] and packed["images"] == 64 and packed["bits_per_pixel"] > 0
    main_vae = results["results"]["vae_main"]
    assert f"{main_vae['test_bpd']:.4f}" in md
    assert set(main_vae["samples"]) == {"0", "1", "2"}
    matrix = results["results"]["adversarial_matrix"]
    assert len(matrix["rows"]) == 6 and {r["augment"] for r in matrix["rows"]} == {False, True}
    for row in matrix["rows"]:
        assert all(v <= row["clean_accuracy"] for k, v in row["robust_accuracy"].items() if "noise" not in k)
        assert "APGD-CE+T ε=8/255" in row["robust_accuracy"]  # the smoke scale's strong column
    assert "Gradient masking: the checks per model and ε" in md  # ... and the section it feeds
    betas = [r["beta"] for r in results["results"]["beta_sweep"]["rows"]]
    assert betas == [0.5, 1.0, 2.0, 4.0, 8.0]
    transfer = results["results"]["transfer"]
    assert set(transfer["matrix"]["FGSM ε=8/255"]) == {"A", "B"}


def test_publish_copies_exactly_what_the_report_shows(smoke_report, tmp_path):
    import re

    from vaeadv.report.run import publish

    dest = publish(Context(smoke_report, SCALES["smoke"]), tmp_path / "pub")
    md = (dest / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all((dest / link).is_file() for link in links)
    assert not list(dest.rglob("*.ckpt")) and (dest / "results" / "vae_main.json").is_file()
    # the run matrix's rows travel too, so a run seeded from the published copy measures none of them again
    assert len(list((dest / "results" / "matrix_rows").glob("*.json"))) == 6
    assert len(list((dest / "results" / "curve_rows").glob("*.json"))) == 3


def test_deleted_result_is_reported_missing_not_stale(smoke_report, capsys):
    results = json.loads((smoke_report / "results.json").read_text())["results"]
    stale = f"{results['vae_manifold']['test_bpd']:.4f}"
    assert stale in (smoke_report / "report.md").read_text()
    (smoke_report / "results" / "vae_manifold.json").unlink()
    assert main(["report", "--scale", "smoke", "--out", str(smoke_report), "--render-only"]) == 0
    md = (smoke_report / "report.md").read_text()
    section = md.split("### Q1.10")[1].split("###")[0]
    assert "Missing" in section and "vae_manifold" in section and stale not in section
    assert json.loads((smoke_report / "results.json").read_text())["results"]["vae_manifold"] is None


def test_finished_experiments_are_reused_and_changed_settings_rerun(tmp_path, monkeypatch):
    calls = []

    def fake(ctx):
        calls.append(ctx.scale.name)
        return {"value": len(calls)}

    monkeypatch.setattr(report_run, "EXPERIMENTS", {"vae_main": fake})
    ctx = Context(tmp_path, SCALES["smoke"])
    assert set(report_run.run_experiments(ctx)) == {"vae_main"}
    assert report_run.load_results(ctx)["vae_main"]["hardware"] == hardware()  # recorded at run time
    assert report_run.run_experiments(ctx) == {} and len(calls) == 1  # an interrupted report skips what is done
    other = Context(tmp_path, SCALES["cpu"])
    assert report_run.load_results(other)["vae_main"] is None  # another scale's number never passes as this one
    report_run.run_experiments(other)
    assert report_run.load_results(other)["vae_main"]["value"] == 2 and len(calls) == 2
    (tmp_path / "results" / "vae_main.json").write_text("{ damaged")
    assert report_run.load_results(ctx)["vae_main"] is None


def test_experiments_on_shipped_weights_are_keyed_by_the_files_hashes(tmp_path, monkeypatch):
    """New weights under an old name make the matrix and curves stale; the other experiments are keyed without
    them. The transfer pair trains with the pretrain recipe, whose label smoothing changed: a result stored before
    the key recorded it (as the smoothed recipe's was) is stale, the published one (recorded) stands."""
    import hashlib

    from vaeadv import registry
    from vaeadv.report.store import ResultStore

    real = Context(tmp_path, SCALES["real"])
    published = ResultStore(Path(__file__).resolve().parents[2] / "docs" / "report" / "results")
    for name in ("transfer", "beta_sweep"):
        assert "weights_sha256" not in report_run.experiment_config(real, name)
    stored = json.loads(published.path("transfer").read_text())
    assert stored["config"]["recipe_label_smoothing"] == {"pretrain": 0.0}
    assert report_run.stored_result(published, real, "transfer") is not None
    old = ResultStore(tmp_path / "old")
    old.put("transfer", {k: v for k, v in stored["config"].items() if k != "recipe_label_smoothing"},
            stored["result"])
    assert report_run.stored_result(old, real, "transfer") is None
    folder = registry.weights_folder()
    files = {name: hashlib.sha256((folder / f"{name}.pt").read_bytes()).hexdigest()
             for name in ("vaeadv-resnet18", "vaeadv-fast-at")}
    assert report_run.experiment_config(real, "adversarial_matrix")["weights_sha256"] == files
    assert report_run.experiment_config(real, "robustness_curves")["weights_sha256"] == files
    before = report_run.experiment_config(real, "adversarial_matrix")
    manifest = json.loads((folder / "vaeadv-resnet18.json").read_text()) | {"sha256": "0" * 64}
    monkeypatch.setattr(registry, "manifest", lambda name: manifest)  # another file under the same name
    assert report_run.experiment_config(real, "adversarial_matrix") != before


def test_unknown_experiment_and_bad_scale_are_one_line_errors(tmp_path, capsys):
    assert main(["report", "--only", "nope", "--out", str(tmp_path)]) != 0
    assert "unknown experiment" in capsys.readouterr().err
    assert main(["report", "--reuse", str(tmp_path / "absent"), "--out", str(tmp_path), "--render-only"]) != 0
    err = capsys.readouterr().err
    assert "--reuse" in err and "absent: no such folder" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["report", "--scale", "huge"])
    assert exc.value.code == 2


def test_scales_state_their_reductions():
    assert SCALES["full"].reductions() == []
    cpu = "\n".join(SCALES["cpu"].reductions())
    assert "ResNet18 base width: 16" in cpu and "VAE epochs (z=20 and z=2): 8" in cpu and "fast" in cpu
    # the assignment sets no Q1.2 experiment: its settings' full values are the full scale's, not the assignment's
    real = SCALES["real"].reductions()
    assert "epochs of the extra Q1.2 models: 4 (full scale: 80)" in real
    assert "training images of the extra Q1.2 models: 20000 (full scale: all)" in real
    assert "epochs per β: 20 (assignment / full: 80)" in real


def test_a_copied_report_folder_finds_its_own_files(tmp_path):
    """Results record absolute paths of the folder they were made in; a copy resolves them inside itself."""
    import shutil

    old = tmp_path / "A"
    (old / "runs" / "vae" / "r1" / "checkpoints").mkdir(parents=True)
    (old / "runs" / "vae" / "r1" / "checkpoints" / "best.ckpt").write_bytes(b"x")
    shutil.copytree(old, tmp_path / "B")
    shutil.rmtree(old)
    ctx = Context(tmp_path / "B", SCALES["smoke"])
    recorded = old / "runs" / "vae" / "r1" / "checkpoints" / "best.ckpt"
    assert ctx.local(recorded) == (tmp_path / "B" / "runs" / "vae" / "r1" / "checkpoints" / "best.ckpt").resolve()
    assert ctx.rel(recorded) == "runs/vae/r1/checkpoints/best.ckpt"
    assert ctx.local("/elsewhere/weights.pt") == Path("/elsewhere/weights.pt")  # not a report file: unchanged
