"""The documented public API: the names import from ``vaeadv.robust``, the README's example runs as written on a
user's own model, and importing the light submodules the command line needs does not import torch."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

README = Path(__file__).resolve().parents[2] / "README.md"


def test_public_names_import_from_the_package():
    import vaeadv.robust as robust
    from vaeadv.robust import AttackSpec, apgd, fgsm, load_weights, pgd, resnet18, robust_accuracy  # noqa: F401

    assert set(robust.__all__) >= {"fgsm", "pgd", "apgd", "robust_accuracy", "AttackSpec", "resnet18",
                                   "load_weights"}
    assert robust.pgd is __import__("vaeadv.robust.attacks", fromlist=["pgd"]).pgd


def test_the_readme_example_attacks_a_users_own_model():
    code = re.search(r"```python\n(from vaeadv\.robust import.*?)```", README.read_text(), re.S).group(1)

    class MyNet(nn.Module):  # not vaeadv's: a user's model
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))

        def forward(self, x):
            return self.body(x)

    torch.manual_seed(0)
    images, labels = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    scope = {"MyNet": MyNet, "images": images, "labels": labels}
    exec(compile(code.replace("eps=8 / 255)", "eps=8 / 255, steps=5)"), "README", "exec"), scope)
    assert scope["adv"].shape == images.shape and scope["worst"].shape == images.shape
    assert 0 <= scope["r"]["clean_accuracy"] <= 1


def test_the_command_lines_light_modules_do_not_import_torch():
    probe = ("import sys, vaeadv.cli.main, vaeadv.robust.config, vaeadv.robust.recipes, vaeadv.vae.config; "
             "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0


def test_every_attack_kind_runs_through_its_registered_function(monkeypatch):
    """The command line offers exactly the registry's kinds, and ``AttackSpec.run`` reaches each kind's runner
    (a spy in the runner's module sees the spec, the clean gradient and the generator it was given)."""
    import importlib

    from vaeadv.cli.main import build_parser
    from vaeadv.robust.evaluate import AttackSpec
    from vaeadv.robust.kinds import ATTACKS, KINDS

    parser = build_parser()
    for kind in KINDS:
        assert parser.parse_args(["robust", "attack", "ckpt", "--attack", kind]).attack == [kind]
    with pytest.raises(SystemExit):
        parser.parse_args(["robust", "attack", "ckpt", "--attack", "not-a-kind"])
    for kind in ATTACKS.values():
        module, name = kind.runner.split(":")
        seen: list = []
        monkeypatch.setattr(importlib.import_module(module), name, lambda *a, seen=seen: seen.append(a) or "adv")
        spec, grad, gen = AttackSpec(kind.name, 0.1), object(), object()
        assert spec.run("model", "x", "y", grad=grad, generator=gen) == "adv"
        assert seen == [(spec, "model", "x", "y", grad, gen)]
