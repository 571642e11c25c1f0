"""Intermediate results kept under data/interim/: reused only for the same name, settings and package."""

import pytest

from upgrading import interim, paths


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    return tmp_path / "data" / "interim"


def test_a_result_is_computed_once_and_read_back(folder):
    calls = []

    def compute():
        calls.append(1)
        return {"verdicts": [1, 2, 3]}

    first = interim.cached("study", {"replicates": 10}, compute)
    again = interim.cached("study", {"replicates": 10}, compute)
    assert first == again == {"verdicts": [1, 2, 3]} and len(calls) == 1
    assert len(list(folder.glob("study-*.pickle"))) == 1


def test_other_settings_or_another_package_compute_again_and_replace_the_old_result(folder, monkeypatch):
    interim.cached("study", {"replicates": 10}, lambda: "ten")
    assert interim.cached("study", {"replicates": 20}, lambda: "twenty") == "twenty"
    assert len(list(folder.glob("study-*.pickle"))) == 1  # one result per name
    monkeypatch.setattr(interim, "package_digest", lambda: "a changed package")
    assert interim.cached("study", {"replicates": 20}, lambda: "recomputed") == "recomputed"


def test_the_package_digest_covers_code_and_data():
    digest = interim.package_digest()
    assert len(digest) == 64
    assert interim.key_of("a", {}) != interim.key_of("b", {}) != interim.key_of("a", {"x": 1})
