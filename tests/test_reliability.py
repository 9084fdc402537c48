"""Probes of a careless or hostile user, end to end through the command line: each ends in one readable line and
a non-zero exit, with nothing half-written and no code run (issue: eight failures found by probing)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tests.data.helpers import write_cifar_npz


def _run(args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "vaeadv", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _one_line_error(proc, code=1):
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, proc.stderr[-2000:]
    return errors[0]


VAE = ["vae", "train", "--train-subset", "256", "--limit-val-batches", "1", "--limit-test-batches", "1",
       "--no-progress", "--z-dim", "2", "--num-filters", "4", "--epochs", "1"]


def test_malicious_last_checkpoint_runs_no_code_on_resume(real_data_dir, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    run = tmp_path / "logs" / "evil"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": Evil()}, run / "checkpoints" / "last.ckpt")
    proc = _run([*VAE, "--log-dir", str(tmp_path / "logs"), "--run-name", "evil", "--resume"],
                env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "VAEADV_DATA": str(real_data_dir)})
    line = _one_line_error(proc)
    assert "asks to run code (posix.system)" in line and not marker.exists()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"PK\x03\x04 truncated")
    line = _one_line_error(_run([*VAE, "--log-dir", str(tmp_path / "logs"), "--run-name", "evil", "--resume"],
                                env={"VAEADV_DATA": str(real_data_dir)}))
    assert "not a loadable PyTorch checkpoint" in line


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_moved_run_resumes_in_its_new_folder_and_changed_settings_are_refused(real_data_dir, tmp_path):
    env = {"VAEADV_DATA": str(real_data_dir)}
    logs = tmp_path / "logs"
    assert _run([*VAE, "--log-dir", str(logs), "--run-name", "A"], env=env).returncode == 0
    (logs / "A").rename(logs / "B")
    done = _run([*VAE, "--log-dir", str(logs), "--run-name", "B", "--resume"], env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((logs / "B" / "results.json").read_text())
    assert results["best_checkpoint"].startswith(str(logs / "B" / "checkpoints"))
    assert sorted(p.name for p in (logs / "B" / "checkpoints").glob("last*")) == ["last.ckpt"]
    changed = _run([*VAE[:-6], "--z-dim", "3", "--num-filters", "4", "--epochs", "1", "--log-dir", str(logs),
                    "--run-name", "B", "--resume"], env=env)
    assert "other settings (z_dim 2 → 3)" in _one_line_error(changed)
    assert sorted(p.name for p in (logs / "B").glob("csv*")) == ["csv", "csv_2"]  # no stray csv_3


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_sigterm_exits_143_and_the_run_resumes(real_data_dir, tmp_path):
    env = {**os.environ, "VAEADV_DATA": str(real_data_dir)}
    args = [sys.executable, "-m", "vaeadv", *VAE[:-2], "--epochs", "30", "--log-dir", str(tmp_path)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not list(tmp_path.rglob("last.ckpt")):
        time.sleep(0.2)
    assert list(tmp_path.rglob("last.ckpt")), "no checkpoint appeared"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "--resume" in err and "Traceback" not in err
    assert not list(tmp_path.rglob("results.json"))
    done = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (results,) = tmp_path.rglob("results.json")
    assert [h["epoch"] for h in json.loads(results.read_text())["history"]] == list(range(1, 31))


def test_a_second_run_in_the_same_folder_is_refused_while_the_first_runs(real_data_dir, tmp_path):
    env = {**os.environ, "VAEADV_DATA": str(real_data_dir)}
    args = [sys.executable, "-m", "vaeadv", *VAE[:-2], "--epochs", "30", "--log-dir", str(tmp_path),
            "--run-name", "same"]
    first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (tmp_path / "same" / ".lock").exists():
            time.sleep(0.1)
        second = _run([*VAE, "--log-dir", str(tmp_path), "--run-name", "same"], env={"VAEADV_DATA": str(
            real_data_dir)})
        assert f"in use by process {first.pid}" in _one_line_error(second)
    finally:
        first.kill()
        first.wait()


@pytest.mark.parametrize("flags,code,message", [
    (["--seed", "-1"], 2, "a seed must lie in"),
    (["--devices", "0"], 2, "expected at least 1 device"),
    (["--devices", "99", "--accelerator", "cpu"], 1, "asks for more than this machine has"),
    (["--accelerator", "banana"], 1, "Lightning refused the trainer settings"),
    (["--strategy", "banana"], 1, "Lightning refused the trainer settings"),
    (["--z-dim", "0"], 2, "expected a positive integer"),
    (["--batch-size", "0"], 2, "expected a positive integer"),
    (["--z-dim", "100000", "--num-filters", "64"], 1, "pass --force"),
])
def test_bad_training_flags_are_one_line(real_data_dir, tmp_path, flags, code, message):
    proc = _run([*VAE, "--log-dir", str(tmp_path), *flags], env={"VAEADV_DATA": str(real_data_dir)})
    assert message in _one_line_error(proc, code)
    assert not list(tmp_path.rglob("*.ckpt"))


def test_output_paths_that_are_files_are_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    proc = _run(["report", "--scale", "smoke", "--render-only", "--out", str(tmp_path / "afile")])
    assert "is a file, not a folder" in _one_line_error(proc)
    proc = _run(["vae", "train", "--log-dir", str(tmp_path / "afile"), "--epochs", "1"])
    assert "is a file" in _one_line_error(proc)


def _npz(tmp_path, **override):
    from vaeadv.data.sources import CIFAR10_NPZ_FULL

    path = tmp_path / "cifar10" / CIFAR10_NPZ_FULL[0]
    arrays = write_cifar_npz(path, n_train=40, n_test=12)
    arrays.update(override)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("labels,message", [
    (np.array(["cat"] * 40), "labels must be integers 0..9"),
    (np.full(40, 3.5), "whole class numbers"),
    (np.full(40, 12), "labels must lie in 0..9"),
])
def test_bad_npz_labels_are_named(tmp_path, labels, message):
    from vaeadv.data.cifar import read_cifar_npz
    from vaeadv.errors import VaeadvError

    with pytest.raises(VaeadvError, match=message):
        read_cifar_npz(_npz(tmp_path, y_train=labels))


def test_whole_float_labels_are_accepted(tmp_path):
    from vaeadv.data.cifar import read_cifar_npz

    arrays = write_cifar_npz(tmp_path / "c.npz", n_train=40, n_test=12)
    np.savez(tmp_path / "c.npz", **{**arrays, "y_train": arrays["y_train"].astype(np.float32)})
    assert np.array_equal(read_cifar_npz(tmp_path / "c.npz")["y_train"], arrays["y_train"])


def test_a_small_npz_under_a_held_out_recipe_is_one_line(tmp_path):
    data = _npz(tmp_path).parent
    proc = _run(["robust", "train", "--recipe", "fast", "--data-dir", str(data), "--no-download",
                 "--log-dir", str(tmp_path / "logs"), "--width", "4", "--epochs", "1"])
    assert "40 training images, but 5000 are to be held out" in _one_line_error(proc)


def test_an_exact_subset_pointing_past_the_main_file_is_named(tmp_path):
    from vaeadv.data import load_dataset
    from vaeadv.data.sources import CIFAR10_NPZ_EXACT, CIFAR10_NPZ_FULL
    from vaeadv.errors import VaeadvError

    arrays = write_cifar_npz(tmp_path / CIFAR10_NPZ_FULL[0], n_train=40, n_test=12)
    exact = {"x_train": arrays["x_train"][:2], "y_train": arrays["y_train"][:2], "x_test": arrays["x_test"][:2],
             "y_test": arrays["y_test"][:2], "train_index": np.array([0, 40]), "test_index": np.array([0, 1])}
    np.savez(tmp_path / CIFAR10_NPZ_EXACT[0], **exact)
    with pytest.raises(VaeadvError, match=r"train_index points outside the 40 train images"):
        load_dataset("cifar10", tmp_path, download=False, use_cache=False)
    np.savez(tmp_path / CIFAR10_NPZ_EXACT[0], **{**exact, "train_index": np.array([0, 1])})
    data = load_dataset("cifar10", tmp_path, download=False, use_cache=False)
    assert int(data.train_exact.sum()) == 2 and int(data.test_exact.sum()) == 2


def test_sigterm_during_a_report_exits_143_and_leaves_no_temporaries(real_data_dir, tmp_path):
    env = {**os.environ, "VAEADV_DATA": str(real_data_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "vaeadv", "report", "--scale", "smoke", "--out", str(tmp_path),
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not list(tmp_path.rglob("*.ckpt")):  # mid-experiment
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 143, err[-2000:]
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert not (tmp_path / ".lock").exists()  # the lock is released on the way out


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch MARKER",))


def _hostile_checkpoints(folder):
    """Each kind of bad file a user might hand to a command that reads a checkpoint."""
    from vaeadv.robust.module import RobustClassifier
    from vaeadv.vae.module import VAE

    vae = VAE(num_filters=4, z_dim=2)
    robust = RobustClassifier("standard", width=2)
    files = {
        "malicious": {"state_dict": _Boom()},
        "vae": {"state_dict": vae.state_dict(), "hyper_parameters": dict(vae.hparams)},
        "robust": {"state_dict": robust.state_dict(), "hyper_parameters": dict(robust.hparams)},
    }
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.ckpt"
        torch.save(content, paths[name])
    paths["truncated"] = folder / "truncated.ckpt"
    paths["truncated"].write_bytes(paths["robust"].read_bytes()[:5000])
    paths["random"] = folder / "random.ckpt"
    paths["random"].write_bytes(np.random.default_rng(0).bytes(4096))
    return paths


@pytest.mark.parametrize("command", ["vae evaluate", "robust attack", "robust train --pretrained"])
def test_hostile_checkpoints_are_one_line_and_run_no_code(real_data_dir, tmp_path, command, capsys, monkeypatch):
    from vaeadv.cli import main

    monkeypatch.chdir(tmp_path)  # where the malicious pickle would create its marker
    paths = _hostile_checkpoints(tmp_path)
    wrong_kind = "robust" if command == "vae evaluate" else "vae"
    for kind in ("malicious", "truncated", "random", wrong_kind):
        path = str(paths[kind])
        args = {"vae evaluate": ["vae", "evaluate", path, "--limit", "8", "--out", str(tmp_path / "e.json")],
                "robust attack": ["robust", "attack", path, "--limit", "8", "--out", str(tmp_path / "att")],
                "robust train --pretrained": ["robust", "train", "--pretrained", path, "--epochs", "1",
                                              "--train-subset", "64", "--log-dir", str(tmp_path / "logs"),
                                              "--no-progress"]}[command]
        capsys.readouterr()
        assert main([*args, "--data-dir", str(real_data_dir)]) == 1, kind
        err = capsys.readouterr().err
        assert "Traceback" not in err and len([x for x in err.splitlines() if "error" in x]) == 1, err[-2000:]
        assert not (tmp_path / "MARKER").exists(), f"{command} ran code from a {kind} checkpoint"
        assert not (tmp_path / "e.json").exists() and not (tmp_path / "att" / "attack_results.json").exists()


@pytest.mark.slow  # end to end, tens of seconds: make test-all
@pytest.mark.parametrize("sig,code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)])
def test_robust_train_killed_or_interrupted_resumes_with_no_step_lost_or_repeated(real_data_dir, tmp_path, sig,
                                                                                  code):
    env = {**os.environ, "VAEADV_DATA": str(real_data_dir)}
    args = [sys.executable, "-m", "vaeadv", "robust", "train", "--defense", "fgsm", "--recipe", "fast", "--epochs",
            "6", "--train-subset", "512", "--width", "4", "--limit-val-batches", "1", "--test-subset", "100",
            "--no-attack", "--log-dir", str(tmp_path), "--run-name", "r", "--no-progress"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "r" / "fgsm" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while time.time() < deadline and not last.exists():
        time.sleep(0.2)
    assert last.exists(), "no checkpoint appeared"
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    if sig == signal.SIGINT:
        assert "--resume" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "fgsm" / "results.json").exists()
    saved = torch.load(last, weights_only=True)
    assert saved["epoch"] < 6
    done = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exists and is not empty" not in done.stderr  # the resumed run's own folder is no news
    final = torch.load(last, weights_only=True)
    # 512 images in batches of 128: 4 steps an epoch, 6 epochs, whatever happened in between
    assert (final["epoch"], final["global_step"]) == (6, 24)
    assert json.loads((tmp_path / "r" / "fgsm" / "results.json").read_text())["epochs"] == 6
