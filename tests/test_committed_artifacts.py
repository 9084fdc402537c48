"""Every run record and checkpoint committed to this repository still reads in today's terms: the compatibility
code for older records (renamed fields, fields added later, settings that were once a recipe's) is kept exactly
as long as a committed artifact needs it, and this test is what says so."""

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from vaeadv.report.store import training_key
from vaeadv.robust.config import RobustTrainConfig
from vaeadv.vae.config import VAETrainConfig

REPO = Path(__file__).resolve().parents[1]


def _committed(pattern: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", pattern], capture_output=True, text=True, cwd=REPO)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return out.stdout.split()


RUN_RECORDS = [f for f in _committed("*results.json") if "config" in json.loads((REPO / f).read_text())]


def test_there_are_records_of_both_halves():
    kinds = {next(c.__name__ for c in (VAETrainConfig, RobustTrainConfig) if c.recognises(
        json.loads((REPO / f).read_text())["config"])) for f in RUN_RECORDS}
    assert kinds == {"VAETrainConfig", "RobustTrainConfig"} and len(RUN_RECORDS) >= 10


@pytest.mark.parametrize("path", RUN_RECORDS)
def test_every_committed_run_record_upgrades_to_exactly_todays_fields(path):
    recorded = json.loads((REPO / path).read_text())["config"]
    (cls,) = [c for c in (VAETrainConfig, RobustTrainConfig) if c.recognises(recorded)]
    upgraded = cls.upgrade(recorded)
    assert set(upgraded) == {f.name for f in dataclasses.fields(cls)}
    assert training_key(recorded) == training_key(upgraded)  # and it keys as what it is today


def test_every_committed_checkpoint_loads():
    from vaeadv.checkpoints import load_checkpoint
    from vaeadv.robust.models import load_classifier
    from vaeadv.vae.evaluate import load_vae

    checkpoints = _committed("*.ckpt")
    assert checkpoints
    for path in checkpoints:
        if "hyper_parameters" in (ckpt := load_checkpoint(REPO / path, "checkpoint")) and "z_dim" in ckpt[
                "hyper_parameters"]:
            assert load_vae(REPO / path).hparams.z_dim == ckpt["hyper_parameters"]["z_dim"]
        else:
            assert not load_classifier(str(REPO / path)).training
