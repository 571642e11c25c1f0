"""The exhibit registry: parsing, what save_* may write into figures/, the run check, manifest and report."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from upgrading import paths
from upgrading.compendium import exhibits, registry, report, verify  # noqa: E402
from upgrading.errors import UpgradingError  # noqa: E402

SMALL = """
[[exhibit]]
name = "alpha"
kind = "table"
notebook = "01_a.ipynb"
caption = "Alpha."

[[exhibit]]
name = "alpha"
kind = "figure"
notebook = "01_a.ipynb"
caption = "Alpha, drawn."

[[exhibit]]
name = "beta"
kind = "table"
notebook = "02_b.ipynb"
requires = "second_coder_path"
caption = "Beta."
"""


def test_an_exhibit_expands_to_its_files_and_captions():
    reg = registry.parse(SMALL)
    assert reg.rows() == [
        ("figures/alpha.csv", "01_a.ipynb", "Alpha."),
        ("figures/alpha.md", "01_a.ipynb", "The same, rendered as a Markdown table."),
        ("figures/alpha.png", "01_a.ipynb", "Alpha, drawn."),
        ("figures/alpha.pdf", "01_a.ipynb", "The same figure, vector."),
        ("figures/beta.csv", "02_b.ipynb", "Beta."),
        ("figures/beta.md", "02_b.ipynb", "The same, rendered as a Markdown table."),
    ]
    assert reg.files("02_b.ipynb", {"second_coder_path": None}) == []
    assert reg.files("02_b.ipynb", {"second_coder_path": "x.csv"}) == ["figures/beta.csv", "figures/beta.md"]
    assert reg.markdown_table().splitlines()[2] == "| `figures/alpha.csv` | `01_a.ipynb` | Alpha. |"


def test_a_bad_registry_names_every_problem():
    bad = (
        SMALL.replace('notebook = "02_b.ipynb"', 'notebook = "01_a.ipynb"').replace('name = "beta"', 'name = "alpha"')
        + '\n[[exhibit]]\nname = "gamma"\nkind = "chart"\nnotebook = "x"\n'
        'caption = "c"\n\n[[exhibit]]\nname = "delta"\nkind = "table"\ncolour = "red"\n'
    )
    with pytest.raises(UpgradingError) as err:
        registry.parse(bad)
    message = str(err.value)
    assert registry.REGISTRY_FILE in message
    assert "figures/alpha.csv is declared twice" in message
    assert "kind 'chart'" in message
    assert "delta: missing caption, notebook; unknown colour" in message


def test_run_check_names_missing_foreign_and_undeclared_files():
    reg = registry.parse(SMALL)
    before = {
        "figures/alpha.csv": b"1",
        "figures/alpha.md": b"1",
        "figures/beta.csv": b"b",
        "figures/beta.md": b"b",
        "figures/old_junk.txt": b"j",
    }
    after = dict(before, **{"figures/alpha.png": b"p", "figures/beta.csv": b"changed", "figures/new.csv": b"n"})
    del after["figures/alpha.md"]
    problems = reg.check_run("01_a.ipynb", {}, before, after)
    assert problems == [
        f"01_a.ipynb did not write figures/alpha.md, which {registry.REGISTRY_FILE} declares for it",
        f"01_a.ipynb did not write figures/alpha.pdf, which {registry.REGISTRY_FILE} declares for it",
        f"01_a.ipynb wrote figures/beta.csv, which {registry.REGISTRY_FILE} declares for 02_b.ipynb",
        f"01_a.ipynb wrote figures/new.csv, which is not declared in {registry.REGISTRY_FILE}",
    ]
    # a conditional exhibit may be absent (and removed) when its parameter is empty
    assert (
        reg.check_run(
            "02_b.ipynb",
            {"second_coder_path": None},
            before,
            {k: v for k, v in before.items() if not k.startswith("figures/beta")},
        )
        == []
    )
    assert reg.check_run("02_b.ipynb", {"second_coder_path": "s.csv"}, {}, {}) != []


def test_save_refuses_an_unregistered_name_in_figures_only(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "FIGURES", tmp_path / "figures")
    frame = pd.DataFrame({"x": [1]})
    with pytest.raises(UpgradingError, match=r"'unlisted' is not a registered exhibit: declare it in src/upgrading"):
        exhibits.save_table(frame, "unlisted", title="t")
    with pytest.raises(UpgradingError, match="figure 'codebook' is not a registered exhibit"):
        exhibits.save_figure(plt.figure(), "codebook")  # registered, but as a table
    plt.close("all")
    assert not (tmp_path / "figures").exists()
    assert exhibits.save_table(frame, "codebook", title="t") == ["codebook.csv", "codebook.md"]
    exhibits.save_table(frame, "unlisted", title="t", directory=tmp_path / "scratch")  # elsewhere: any name
    assert (tmp_path / "scratch" / "unlisted.csv").exists()


def test_manifest_records_exactly_the_registered_exhibits_with_their_notebooks():
    entries = verify.load_manifest()["exhibits"]
    assert {k: v["notebook"] for k, v in entries.items()} == registry.load().owners()


def test_verify_names_an_exhibit_the_registry_does_not_know(tmp_path):
    import shutil

    shutil.copytree(paths.ROOT / "figures", tmp_path / "figures")
    shutil.copytree(paths.ROOT / "data", tmp_path / "data")
    manifest = verify.load_manifest()
    entry = manifest["exhibits"]["figures/codebook.csv"]
    manifest["exhibits"]["figures/stray.csv"] = entry
    (tmp_path / "figures" / "stray.csv").write_bytes((paths.ROOT / "figures" / "codebook.csv").read_bytes())
    manifest["exhibits"]["figures/codebook.md"] = dict(
        manifest["exhibits"]["figures/codebook.md"], notebook="03_descriptives.ipynb"
    )
    import json

    (tmp_path / verify.MANIFEST).write_text(json.dumps(manifest))
    result = verify.verify(tmp_path)
    assert result.registry_problems == [
        f"figures/codebook.md is recorded as made by 03_descriptives.ipynb, but {registry.REGISTRY_FILE} declares "
        "it for 01_codebook.ipynb",
        f"figures/stray.csv is not declared in {registry.REGISTRY_FILE}",
    ]
    assert not result.ok and not result.missing and not result.extra and not result.changed


def test_report_index_gives_every_exhibit_its_caption_and_writing_cell():
    rows = report.exhibit_cells()
    assert [(r["exhibit"], r["notebook"], r["caption"]) for r in rows] == registry.load().rows()
    unlocated = [r for r in rows if r["cell"] is None]
    assert not unlocated, f"no committed cell shows writing: {[r['exhibit'] for r in unlocated]}"


def test_an_exhibit_can_declare_the_sheets_it_is_made_from():
    text = (
        '[[exhibit]]\nname = "alpha"\nkind = "table"\nnotebook = "01_a.ipynb"\nsheets = []\ncaption = "Alpha."\n'
        '[[exhibit]]\nname = "beta"\nkind = "table"\nnotebook = "01_a.ipynb"\ncaption = "Beta."\n'
    )
    reg = registry.parse(text)
    assert reg.exhibit_of("figures/alpha.md").sheets == () and reg.exhibit_of("figures/beta.csv").sheets is None
    # the committed registry: the design analysis's power table and curves are made from no coding sheet, its
    # partial-pooling arm from the first coding (it runs at that sheet's number of cases), its coding-error exhibits
    # from both codings (the notebook's default)
    committed = registry.load()
    assert committed.exhibit_of("figures/power_table.csv").sheets == ()
    assert committed.exhibit_of("figures/power_curves.png").sheets == ()
    assert committed.exhibit_of("figures/pooling_power.md").sheets == ("coding_path",)
    assert committed.exhibit_of("figures/power_coding_error.csv").sheets is None


def test_sheets_must_name_sheet_parameters():
    bad = '[[exhibit]]\nname = "alpha"\nkind = "table"\nnotebook = "01_a.ipynb"\ncaption = "A."\n'
    bad += 'sheets = "second_coder"\n'
    with pytest.raises(UpgradingError, match="sheets must be a list of coding_path, second_coder_path"):
        registry.parse(bad)
    with pytest.raises(UpgradingError, match="got \\['second_coder'\\]"):
        registry.parse(bad.replace('"second_coder"', '["second_coder"]'))


def test_run_order_declares_notebooks_that_exist_and_puts_them_first(monkeypatch):
    """`[run] start_first`: started before the others when notebooks run side by side; a name that writes no
    exhibit (a renumbered notebook, a typo) or another key is refused."""
    from upgrading.compendium import pipeline

    reg = registry.parse('[run]\nstart_first = ["02_b.ipynb"]\n' + SMALL)
    assert reg.start_first == ("02_b.ipynb",)
    with pytest.raises(UpgradingError, match=r"start_first must list notebooks that write exhibits; got \['09_x"):
        registry.parse('[run]\nstart_first = ["09_x.ipynb"]\n' + SMALL)
    with pytest.raises(UpgradingError, match=r"\[run\]: unknown last"):
        registry.parse('[run]\nlast = ["02_b.ipynb"]\n' + SMALL)
    for written in ('[["02_b.ipynb"]]', '"02_b.ipynb"', "[2]"):  # not a list of names: refused, not a TypeError
        with pytest.raises(UpgradingError, match=r"start_first must list notebooks"):
            registry.parse(f"[run]\nstart_first = {written}\n" + SMALL)
    with pytest.raises(UpgradingError, match=r"\[run\] must be a table"):
        registry.parse('run = "02_b.ipynb"\n' + SMALL)
    notebooks = pipeline.discover()
    order = [nb.name for nb in pipeline._start_order(notebooks)]
    first = len(registry.load().start_first)
    assert order[:first] == list(registry.load().start_first)
    assert sorted(order) == [nb.name for nb in notebooks] and order[first:] == sorted(order[first:])
    declared = dataclasses.replace(registry.load(), start_first=("06_robustness.ipynb", "03_descriptives.ipynb"))
    monkeypatch.setattr(registry, "load", lambda: declared)
    order = [nb.name for nb in pipeline._start_order(notebooks)]
    assert order[:3] == ["06_robustness.ipynb", "03_descriptives.ipynb", "01_codebook.ipynb"]  # declared, not by number
    # a name listed twice is refused (it would start that notebook twice, side by side), and the order never
    # repeats or drops a selected notebook, even with --only choosing some of the declared ones
    with pytest.raises(UpgradingError, match=r"start_first must name each notebook once; got \['02_b.ipynb', '02_b"):
        registry.parse('[run]\nstart_first = ["02_b.ipynb", "02_b.ipynb"]\n' + SMALL)
    twice = dataclasses.replace(declared, start_first=("06_robustness.ipynb", "06_robustness.ipynb"))
    monkeypatch.setattr(registry, "load", lambda: twice)
    some = pipeline.select(notebooks, ["01", "06", "07"])
    assert [nb.name for nb in pipeline._start_order(some)] == [
        "06_robustness.ipynb",
        "01_codebook.ipynb",
        "07_power.ipynb",
    ]
