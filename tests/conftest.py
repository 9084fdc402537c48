import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("shared-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(request, tmp_path_factory, monkeypatch):
    """No downloads, and never ~/.cache: each test gets its own cache folder, except tests on the real
    datasets, which share one per session so the real files are decoded once, not once per test."""
    shared = "real_data_dir" in request.fixturenames
    cache = request.getfixturevalue("_shared_cache") if shared else tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VAEADV_CACHE", str(cache))
    monkeypatch.setenv("VAEADV_OFFLINE", "1")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder with the real dataset copies ($VAEADV_DATA). Under CI it must exist: a missing copy is
    a failure there, not a silent skip."""
    value = os.environ.get("VAEADV_DATA")
    if value and Path(value).is_dir():
        return Path(value)
    if os.environ.get("CI"):
        pytest.fail("CI must set VAEADV_DATA to the real dataset copies")
    pytest.skip("$VAEADV_DATA is not set to the real dataset copies")


@pytest.fixture(scope="session")
def real_mnist(real_data_dir):
    from vaeadv.data import load_dataset

    return load_dataset("mnist", real_data_dir, download=False, use_cache=False)


@pytest.fixture(scope="session")
def real_cifar(real_data_dir):
    from vaeadv.data import load_dataset

    return load_dataset("cifar10", real_data_dir, download=False, use_cache=False)


def pytest_collection_modifyitems(config, items):
    """Under `make mutate`, run a mutant's tests fastest first (mutmut runs them with -x in the order of a set):
    most mutants are killed by a quick unit test, so they need not wait for a training run first. Tests stay
    grouped by file, so a module's fixtures are set up once. The verdict is the same in any order."""
    if "__mutmut_" not in os.environ.get("MUTANT_UNDER_TEST", ""):
        return
    import json

    try:
        durations = json.loads(Path("mutmut-stats.json").read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    seconds = {item: durations.get(item.nodeid, 0.0) for item in items}
    fastest_in_file: dict[str, float] = {}
    for item, s in seconds.items():
        fastest_in_file[item.path] = min(s, fastest_in_file.get(item.path, s))
    items.sort(key=lambda item: (fastest_in_file[item.path], str(item.path), seconds[item]))
