import hashlib
import json
import subprocess
import sys

import pytest
import torch

from tests.robust.helpers import synthetic_data, trained_tiny_model
from vaeadv import registry
from vaeadv.errors import VaeadvError
from vaeadv.robust import export
from vaeadv.robust.export import export_weights, half_state
from vaeadv.robust.models import ResNet18, load_classifier, load_weights


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A tiny model exported under the name 'tiny' into a registry folder of the test's own."""
    model = trained_tiny_model(steps=30)
    ckpt = tmp_path / "run" / "best.ckpt"
    ckpt.parent.mkdir()
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": {"width": 4}}, ckpt)
    folder = tmp_path / "weights"
    monkeypatch.setattr(registry, "weights_folder", lambda: folder)
    x, y = synthetic_data(64, seed=5)
    manifest = export_weights(ckpt, folder, "tiny", {"synthetic": ((x * 255).round().to(torch.uint8), y)},
                              {"recipe": "test"})
    return model, folder, manifest, (x, y)


def test_export_writes_fp16_weights_whose_hash_and_accuracy_the_manifest_states(shipped):
    model, folder, manifest, (x, y) = shipped
    raw = (folder / "tiny.pt").read_bytes()
    assert manifest["sha256"] == hashlib.sha256(raw).hexdigest() == json.loads((folder / "tiny.json").read_text())[
        "sha256"]
    state = torch.load(folder / "tiny.pt", weights_only=True)
    assert state["conv1.weight"].dtype == torch.float16
    assert state["layer1.0.bn1.num_batches_tracked"].dtype == torch.int64
    # the accuracy is the fp16 file's, recomputed here with the weights rounded to fp16 and a plain loop
    rounded = ResNet18(10, width=4)
    rounded.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half_state(
        model.state_dict()).items()})
    rounded.eval()
    u8 = (x * 255).round().to(torch.uint8)
    with torch.no_grad():
        correct = sum(int(rounded(u8[i:i + 1].float() / 255).argmax(1) == y[i]) for i in range(len(y)))
    acc = manifest["accuracy_of_shipped_fp16_file"]["synthetic"]
    assert acc["correct"] == correct and acc["n"] == 64 and acc["ci95_low"] <= acc["accuracy"] <= acc["ci95_high"]
    assert "synthetic_flip_tta" in manifest["accuracy_of_shipped_fp16_file"] and manifest["recipe"] == "test"


def test_short_name_loads_the_shipped_file_as_fp32(shipped):
    _, _, _, _ = shipped
    assert registry.available() == ["tiny"]
    model = load_classifier("tiny")
    assert model.conv1.weight.dtype == torch.float32 and not model.training
    expected = torch.load(registry.weights_folder() / "tiny.pt", weights_only=True)["fc.weight"].float()
    assert torch.equal(model.fc.weight, expected)
    assert torch.equal(load_weights(ResNet18(10, width=4), "tiny").fc.weight, expected)


def test_tampered_or_unknown_weights_are_refused(shipped):
    _, folder, _, _ = shipped
    data = bytearray((folder / "tiny.pt").read_bytes())
    data[-100] ^= 1
    (folder / "tiny.pt").write_bytes(bytes(data))
    with pytest.raises(VaeadvError, match="SHA-256 .* does not match"):
        load_classifier("tiny")
    with pytest.raises(VaeadvError, match="SHA-256"):
        load_weights(ResNet18(10, width=4), "tiny")
    with pytest.raises(VaeadvError, match="neither a file nor the name of shipped weights"):
        load_classifier("no-such-model")


def test_cli_refuses_an_unknown_name_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vaeadv", "robust", "attack", "no-such-model", "--no-download",
                           "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "no-such-model" in proc.stderr


def test_shipped_weights_are_package_data():
    """Every shipped .pt has its manifest, and the package data globs of pyproject cover both."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    globs = project["tool"]["setuptools"]["package-data"]["vaeadv.weights"]
    assert "*.pt" in globs and "*.json" in globs
    for pt in registry.weights_folder().glob("*.pt"):
        manifest = json.loads(pt.with_suffix(".json").read_text())
        assert manifest["sha256"] == registry.sha256_of(pt)


def test_template_get_model_takes_normalised_inputs(shipped):
    from vaeadv.robust import template as T

    model, _, _, (x, _) = shipped
    net = T.get_model("tiny")
    pixel = load_classifier("tiny")
    assert not net.training and net.conv1.out_channels == 4
    with torch.no_grad():  # the same network: normalised input here, pixels there
        assert torch.allclose(net(T.normalize(x[:8])), pixel(x[:8]), atol=1e-5)
    assert T.get_model(None).conv1.out_channels == 64


def test_export_keeps_robustness_measured_on_the_very_file_and_refuses_any_other(shipped, tmp_path, monkeypatch):
    _, folder, manifest, (x, y) = shipped
    ckpt = tmp_path / "run" / "best.ckpt"
    measured = {"weights_sha256": hashlib.sha256((folder / "tiny.pt").read_bytes()).hexdigest(),
                "evaluated_on": "first 64 synthetic", "units": "pixel", "clean_accuracy": 0.5,
                "robust_accuracy": {"strong eps=0.03": 0.25}, "examples": {"not": "kept"}}
    u8 = {"synthetic": ((x * 255).round().to(torch.uint8), y)}
    scored = []
    monkeypatch.setattr(export, "evaluate_shipped", lambda path, sets: scored.append(set(sets)) or {})
    again = export_weights(ckpt, folder, "tiny", u8, {}, {"strong.json": measured})
    assert scored == []  # the same bytes on the same test set: the first export's accuracies are kept, not redone
    assert again["accuracy_of_shipped_fp16_file"] == manifest["accuracy_of_shipped_fp16_file"]
    # the same checkpoint exports to the same bytes, so results measured on the first export stay valid
    assert again["sha256"] == manifest["sha256"]
    assert again["robustness_of_shipped_fp16_file"] == [{k: measured[k] for k in (
        "evaluated_on", "units", "clean_accuracy", "robust_accuracy")}]
    on_disk = json.loads((folder / "tiny.json").read_text())
    assert on_disk["robustness_of_shipped_fp16_file"][0]["robust_accuracy"] == {"strong eps=0.03": 0.25}

    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    for other in ({**measured, "weights_sha256": "0" * 64}, {k: v for k, v in measured.items()
                                                             if k != "weights_sha256"}):
        with pytest.raises(VaeadvError, match=r"strong\.json: measured on weights with SHA-256 .* not on the "
                                              r"exported file"):
            export_weights(ckpt, folder, "tiny", u8, {}, {"strong.json": other})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # refused before anything was written
    export_weights(ckpt, folder, "tiny", {"other": u8["synthetic"]}, {})
    assert scored == [{"other"}]  # another test set is scored


def test_a_run_is_known_by_the_weights_file_it_starts_from_not_by_its_name(shipped, tmp_path):
    """Replacing the file behind a name (shipped or local) changes the training key, so the report re-runs what
    was trained or measured from the old file instead of reusing it."""
    from vaeadv.report.store import run_dir_name, training_key
    from vaeadv.robust.config import RobustTrainConfig

    _, folder, _, _ = shipped
    tiny = hashlib.sha256((folder / "tiny.pt").read_bytes()).hexdigest()
    assert registry.weights_sha256("tiny") == tiny
    assert training_key(RobustTrainConfig(defenses=("fgsm",), pretrained="tiny"))["pretrained_sha256"] == tiny
    local = tmp_path / "start.pt"
    local.write_bytes(b"first")
    cfg = RobustTrainConfig(defenses=("fgsm",), pretrained=str(local))
    first, first_name = training_key(cfg), run_dir_name("aug", cfg)
    assert first["pretrained_sha256"] == hashlib.sha256(b"first").hexdigest() == cfg.pinned().pretrained_sha256
    local.write_bytes(b"second")
    assert training_key(cfg) != first and run_dir_name("aug", cfg) != first_name  # its own folder: no resuming
    assert registry.weights_sha256("https://example.org/w.pt") is None
    assert registry.weights_sha256("no-such-model") is None
    url = RobustTrainConfig(pretrained="https://example.org/w.pt")
    assert url.pinned().pretrained_sha256 is None  # not downloaded yet: unknown, not guessed
    assert url.pinned(downloaded=local).pretrained_sha256 == hashlib.sha256(b"second").hexdigest()


def test_a_shipped_name_with_another_hash_asked_for_is_refused_in_one_line(shipped, tmp_path, capsys):
    from vaeadv.cli import main

    with pytest.raises(VaeadvError, match="not the 0{64} asked for"):
        load_weights(ResNet18(10, width=4), "tiny", "0" * 64)
    assert main(["robust", "train", "--pretrained", "tiny", "--pretrained-sha256", "0" * 64, "--no-progress",
                 "--data-dir", str(tmp_path / "no-data"), "--log-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "asked for" in err and len(err.splitlines()) == 1 and not (tmp_path / "no-data").exists()
    with pytest.raises(SystemExit) as bad:
        main(["robust", "train", "--pretrained-sha256", "beef"])
    assert bad.value.code == 2 and "64 hexadecimal digits" in capsys.readouterr().err


def test_replacing_a_shipped_file_keeps_the_old_one_on_record(shipped, tmp_path):
    """Exporting other weights under a shipped name puts the replaced file's hash, command and accuracies in the
    manifest's history; exporting the same bytes again adds nothing."""
    _, folder, first, (x, y) = shipped
    other = trained_tiny_model(steps=5)
    ckpt = tmp_path / "other" / "best.ckpt"
    ckpt.parent.mkdir()
    torch.save({"state_dict": {f"model.{k}": v for k, v in other.state_dict().items()},
                "hyper_parameters": {"width": 4}}, ckpt)
    u8 = {"synthetic": ((x * 255).round().to(torch.uint8), y)}
    second = export_weights(ckpt, folder, "tiny", u8, {"recipe": "test", "command": "second"})
    assert second["sha256"] != first["sha256"]
    assert second["history"] == [{"sha256": first["sha256"], "command": None, "epochs": None, "train_seconds": None,
                                  "accuracy_of_shipped_fp16_file": first["accuracy_of_shipped_fp16_file"]}]
    again = export_weights(ckpt, folder, "tiny", u8, {"recipe": "test", "command": "second"})
    assert again["history"] == second["history"]


def test_the_manifest_states_every_recipe_setting_the_run_used():
    from dataclasses import asdict

    from vaeadv.robust.config import RobustTrainConfig
    from vaeadv.robust.export import recipe_settings

    today = recipe_settings(asdict(RobustTrainConfig(recipe="pretrain", epochs=45, label_smoothing=0.0)))
    assert today == {"epochs": 45, "batch_size": 256, "val_from": "train", "lr": 0.2, "schedule": "linear",
                     "val_size": 2000, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4,
                     "decay_norm_and_bias": False, "warmup": 0.15, "label_smoothing": 0.0, "precision": "bf16-mixed"}
    recorded_before = {k: v for k, v in asdict(RobustTrainConfig(recipe="pretrain")).items() if k != "label_smoothing"}
    assert recipe_settings(recorded_before)["label_smoothing"] == 0.1  # what the pretrain recipe used then


def test_the_shipped_resnet18_is_the_plain_cross_entropy_run_and_keeps_the_smoothed_file_on_record():
    """The committed manifest against the committed run record it was exported from (docs/results), and the
    label-smoothed file it replaced (SHA-256 as shipped until then) in its history."""
    from pathlib import Path

    manifest = registry.manifest("vaeadv-resnet18")
    run = json.loads((Path(__file__).resolve().parents[2] / "docs" / "results" / "vaeadv_resnet18_ce45" /
                      "results.json").read_text())
    assert manifest["recipe_settings"]["label_smoothing"] == 0.0 and "--label-smoothing 0.0" in manifest["command"]
    assert manifest["epochs"] == run["epochs"] == 45 and manifest["train_seconds"] == run["train_seconds"]
    assert run["best_checkpoint"].endswith("best-epoch=044-val_acc=0.8925.ckpt")
    assert [h["sha256"] for h in manifest["history"]] == [
        "00ccdac02f6656de5379960a57543925788d15442719eff391f4b1f9eedd1201"]
    assert "--label-smoothing 0.1" in manifest["history"][0]["command"]
    exact = manifest["accuracy_of_shipped_fp16_file"]["exact"]
    assert (exact["correct"], exact["n"]) == (899, 1000)


def test_an_unknown_name_lists_the_shipped_ones_or_says_none_are(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(registry, "weights_folder", lambda: folder)
    with pytest.raises(VaeadvError) as caught:
        registry.manifest("nope")
    assert str(caught.value) == "'nope' is neither a file nor the name of shipped weights (known: none shipped)."
    for name in ("b-model", "a-model"):  # a manifest with its weights file: shipped
        (folder / f"{name}.json").write_text("{}")
        (folder / f"{name}.pt").write_bytes(b"w")
    (folder / "c-model.json").write_text("{}")  # a manifest without weights is not shipped
    with pytest.raises(VaeadvError, match=r"\(known: a-model, b-model\)\.$"):
        registry.manifest("nope")


def test_the_hash_of_a_missing_file_is_unknown_and_a_url_is_never_read_from_disk(tmp_path, monkeypatch):
    assert registry.weights_sha256(tmp_path / "missing.pt") is None  # loading it will say why
    monkeypatch.chdir(tmp_path)
    (tmp_path / "https:").mkdir()
    (tmp_path / "https:" / "w.pt").write_bytes(b"local")  # the path "https://w.pt" names on a POSIX disk
    assert registry.weights_sha256("https:/w.pt") == hashlib.sha256(b"local").hexdigest()
    assert registry.weights_sha256("https://w.pt") is None  # a URL: known once downloaded


def test_a_changed_file_is_refused_with_both_hashes_and_what_to_do(tmp_path):
    path = tmp_path / "w.pt"
    path.write_bytes(b"changed")
    found = hashlib.sha256(b"changed").hexdigest()
    with pytest.raises(VaeadvError) as caught:
        registry.check_sha256(path, "AB" * 32)
    assert str(caught.value) == (f"{path}: SHA-256 {found} does not match the expected {'AB' * 32}; the file was "
                                 "changed or damaged (reinstall vaeadv, or pass a file you trust).")
    registry.check_sha256(path, found.upper())  # hexadecimal in either case


def test_a_shipped_name_asked_with_another_hash_is_refused_and_its_own_hash_in_either_case_passes():
    shipped = registry.manifest("vaeadv-fast-at")["sha256"]
    assert registry.checked_file("vaeadv-fast-at", shipped.upper()) == registry.resolve("vaeadv-fast-at")[0]
    with pytest.raises(VaeadvError) as caught:
        registry.checked_file("vaeadv-fast-at", "0" * 64)
    assert str(caught.value) == (f"the shipped 'vaeadv-fast-at' has SHA-256 {shipped}, not the {'0' * 64} asked "
                                 "for: the shipped weights changed since (install the vaeadv version that shipped "
                                 "that file, or pass that file itself).")


@pytest.mark.parametrize("source", ["missing.pt", "missing.pth", "missing.ckpt", "dir/missing", "dir\\missing"])
def test_what_looks_like_a_file_is_passed_through_not_looked_up_as_a_name(source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert registry.resolve(source) == (source, None)  # loading it will say the file is missing


def test_an_existing_file_without_a_suffix_is_a_file_and_anything_else_an_unknown_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").write_bytes(b"w")
    assert registry.resolve("weights") == ("weights", None)
    for name in ("missing", "missing.PT"):
        with pytest.raises(VaeadvError, match=rf"^'{name}' is neither a file nor the name of shipped weights"):
            registry.resolve(name)
