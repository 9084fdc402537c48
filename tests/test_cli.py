import json
import subprocess
import sys

import pytest

from tests.data.helpers import write_mnist_like
from vaeadv.cli import main


def test_help_everywhere(capsys):
    for argv in (["--help"], ["data", "--help"], ["data", "info", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_bad_flag_value_is_one_line_exit_2():
    proc = subprocess.run([sys.executable, "-m", "vaeadv", "data", "info", "bogus"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown dataset 'bogus'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_data_info_json_on_small_files(tmp_path, capsys):
    write_mnist_like(tmp_path / "mnist", n_train=20)
    assert main(["data", "info", "mnist", "--data-dir", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["datasets"][0]
    assert info["train"] == 20 and info["train_class_counts"] == [2] * 10
    # our random files do not carry the published checksum
    assert set(info["checksums"].values()) == {"MISMATCH"}


def test_missing_data_is_a_clean_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VAEADV_DATA", raising=False)
    assert main(["data", "info", "mnist", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vaeadv: error: dataset 'mnist' not found") and "Traceback" not in err


def test_verify_fails_on_mismatch(tmp_path, capsys):
    write_mnist_like(tmp_path / "mnist")
    assert main(["data", "verify", "mnist", "--data-dir", str(tmp_path)]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_demo_falls_back_to_fashion_mnist(tmp_path, monkeypatch, capsys):
    from vaeadv.data.resolve import find_local
    from vaeadv.demo import pick_image_dataset

    monkeypatch.delenv("VAEADV_DATA", raising=False)
    write_mnist_like(tmp_path / "fashion-mnist")
    if find_local("mnist", tmp_path)[0] is not None:  # a system copy of MNIST would make the fallback moot
        pytest.skip("MNIST is installed system-wide here")
    assert pick_image_dataset(str(tmp_path), download=False) == "fashion-mnist"
    assert "falling back to Fashion-MNIST" in capsys.readouterr().out


def test_robust_train_flags_fill_the_config_by_field_name():
    from vaeadv.cli.main import build_parser
    from vaeadv.cli.types import config_from_args
    from vaeadv.robust.config import RobustTrainConfig

    args = build_parser().parse_args(["robust", "train", "--defense", "fgsm", "pgd", "--seed", "7", "--width", "8",
                                      "--pgd-steps", "3", "--precision", "bf16-mixed"])
    cfg = config_from_args(RobustTrainConfig, args, defenses=tuple(args.defenses))
    assert cfg.defenses == ("fgsm", "pgd") and cfg.seed == 7 and cfg.width == 8 and cfg.pgd_steps == 3
    assert cfg.precision == "bf16-mixed" and cfg.epochs is None  # None: the recipe's
    plain = build_parser().parse_args(["robust", "train"])
    defaults = config_from_args(RobustTrainConfig, plain, defenses=tuple(plain.defenses))
    assert defaults == RobustTrainConfig()  # the flags' defaults are the dataclass's
    alias = build_parser().parse_args(["robust", "train", "--train-strats", "standard", "fgsm"])
    assert alias.defenses == ["standard", "fgsm"]  # the template's name still works


def test_vae_train_flags_fill_the_config_by_field_name_over_the_recipe():
    from vaeadv.cli.main import build_parser
    from vaeadv.cli.vae import train_config
    from vaeadv.vae.config import RECIPES, VAETrainConfig

    plain = train_config(build_parser().parse_args(["vae", "train", "--no-progress"]))
    assert plain == VAETrainConfig(progress=False)  # the flags' defaults are the dataclass's (= the template's)
    improved = train_config(build_parser().parse_args(["vae", "train", "--recipe", "improved", "--z-dim", "2",
                                                       "--ema", "0.9", "--no-download", "--epochs", "3"]))
    assert improved.z_dim == 2 and improved.epochs == 3 and not improved.download
    assert improved.ema_decay == 0.9  # a flag beats the recipe ...
    assert improved.lr == RECIPES["improved"].lr == 3e-3 and improved.lr_schedule == "cosine"  # ... the recipe
    assert improved.weight_decay == 0.01  # beats the dataclass default (0.0)
