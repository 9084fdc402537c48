"""The main job end to end (quick mode), then the attack CLI on the classifier it trained."""

import hashlib
import json

from vaeadv.cli import main


def test_demo_quick_then_attack_cli(real_data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VAEADV_DATA", str(real_data_dir))
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    results = json.loads((out / "demo_results.json").read_text())
    assert results["vae"]["dataset"] == "mnist" and results["vae"]["test_bpd"] < 4.5
    assert (out / "vae" / "demo" / "vae_manifold.png").is_file()
    assert (out / "vae" / "demo" / "epoch_1_samples.png").is_file()
    robust = results["robust"]
    assert robust["dataset"] == "cifar10" and "exact" in robust["data"]
    assert all(v <= robust["clean_accuracy"] for v in robust["robust_accuracy"].values())

    ckpt = next((out / "robust" / "demo" / "standard" / "checkpoints").glob("best-*.ckpt"))
    attack_out = tmp_path / "attack"
    assert main(["robust", "attack", str(ckpt), "--attack", "fgsm", "pgd", "--eps", "0.1", "0.5",
                 "--limit", "32", "--visualise", "--out", str(attack_out)]) == 0
    table = capsys.readouterr().out
    assert "fgsm eps=0.5" in table and "clean" in table
    saved = json.loads((attack_out / "attack_results.json").read_text())
    assert set(saved["robust_accuracy"]) == {"fgsm eps=0.1", "pgd eps=0.1", "fgsm eps=0.5", "pgd eps=0.5"}
    assert saved["evaluated_on"].startswith("first 32")
    assert saved["weights_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()  # what was attacked, exactly
    assert main(["robust", "attack", ckpt.as_uri(), "--attack", "fgsm", "--limit", "8", "--out",
                 str(tmp_path / "by_url")]) == 0  # weights from a URL: attacked, their hash left unrecorded
    assert json.loads((tmp_path / "by_url" / "attack_results.json").read_text())["weights_sha256"] is None
    n_examples = sum(len(v) for v in saved["examples"].values())
    assert len(list(attack_out.glob("*.png"))) == n_examples + (1 if n_examples else 0)


def test_attack_cli_wrong_checkpoint_is_clean_error(tmp_path, capsys):
    bad = tmp_path / "x.ckpt"
    bad.write_text("hello")
    assert main(["robust", "attack", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not a loadable PyTorch checkpoint" in err and "Traceback" not in err
    assert main(["vae", "evaluate", str(tmp_path / "missing.ckpt")]) == 1
    assert "no such checkpoint" in capsys.readouterr().err


def test_attack_cli_scores_a_runs_held_out_training_images(real_data_dir, tmp_path, capsys, monkeypatch):
    import torch

    from vaeadv.data import load_dataset
    from vaeadv.robust import evaluate

    monkeypatch.setenv("VAEADV_DATA", str(real_data_dir))
    assert main(["robust", "attack", "vaeadv-resnet18", "--eval-set", "holdout"]) == 1
    assert "needs --holdout-seed" in capsys.readouterr().err  # another seed's hold-out was trained on: no default
    attacked, original = {}, evaluate.robust_accuracy
    monkeypatch.setattr(evaluate, "robust_accuracy",
                        lambda model, x, y, *a, **k: attacked.update(x=x, y=y) or original(model, x, y, *a, **k))
    out = tmp_path / "holdout"
    assert main(["robust", "attack", "vaeadv-resnet18", "--eval-set", "holdout", "--holdout-seed", "3",
                 "--holdout-size", "64", "--attack", "noise", "--out", str(out)]) == 0
    saved = json.loads((out / "attack_results.json").read_text())
    assert saved["evaluated_on"] == "first 64 training images held out with seed 3 (64)"
    data = load_dataset("cifar10", str(real_data_dir))
    # a --seed 3 run holding out 64 images keeps torch's random_split of the training set with that seed (by hand)
    _, held_out = torch.utils.data.random_split(range(len(data.x_train)), [len(data.x_train) - 64, 64],
                                                generator=torch.Generator().manual_seed(3))
    index = torch.tensor(list(held_out))
    assert torch.equal(attacked["x"], data.x_train[index]) and torch.equal(attacked["y"], data.y_train[index])
