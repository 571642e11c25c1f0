import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from upgrading.compendium.exhibits import save_figure, save_table, use_deterministic_style  # noqa: E402


def _figure():
    use_deterministic_style()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 0, 2], label="line")
    ax.set_title("test")
    ax.legend()
    return fig


@pytest.mark.slow
def test_figures_are_byte_identical_across_writes(tmp_path):
    first = tmp_path / "a"
    second = tmp_path / "b"
    save_figure(_figure(), "plot", directory=first)
    plt.close("all")
    save_figure(_figure(), "plot", directory=second)
    plt.close("all")
    for suffix in ("png", "pdf"):
        assert (first / f"plot.{suffix}").read_bytes() == (second / f"plot.{suffix}").read_bytes()
    pdf = (first / "plot.pdf").read_bytes()
    assert b"CreationDate" not in pdf and b"Matplotlib" not in pdf


def test_a_saved_figure_is_closed_and_shows_the_png_it_wrote(tmp_path):
    fig = _figure()
    saved = save_figure(fig, "plot", directory=tmp_path)
    assert not plt.fignum_exists(fig.number), "drawn once, for the files; the notebook shows the PNG written"
    assert saved._repr_png_() == (tmp_path / "plot.png").read_bytes()
    assert [p.rsplit("/", 1)[-1] for p in saved] == ["plot.png", "plot.pdf"]
    assert repr(saved).startswith("<figure ") and "plot.pdf" in repr(saved)


def test_tables_write_csv_and_markdown_and_report_relative_paths(tmp_path, capsys):
    df = pd.DataFrame({"group": ["a", "b"], "value": [0.123456789, 2.0]})
    written = save_table(df, "tab", title="A table", notes="A note.", directory=tmp_path)
    assert [w.rsplit("/", 1)[-1] for w in written] == ["tab.csv", "tab.md"]
    assert (tmp_path / "tab.csv").read_text() == "group,value\na,0.123457\nb,2\n"
    md = (tmp_path / "tab.md").read_text()
    assert md.startswith("# A table\n\nA note.\n\n|") and "0.123457" in md
    out = capsys.readouterr().out
    assert "wrote " in out and str(tmp_path.parent) not in out, "printed paths must not be absolute"


def test_a_cell_with_no_value_is_empty_in_the_markdown_as_in_the_csv(tmp_path):
    # tabulate wrote NaN as "nan" and pd.NA as "<NA>" (a new-user trial); the CSV has always had an empty cell
    df = pd.DataFrame({"label": ["a", None], "value": [1.5, np.nan], "count": pd.array([3, None], dtype="Int64")})
    save_table(df, "gaps", title="Gaps", directory=tmp_path)
    assert (tmp_path / "gaps.csv").read_text() == "label,value,count\na,1.5,3\n,,\n"
    rows = (tmp_path / "gaps.md").read_text().splitlines()[-4:]
    assert rows[1] == "|:--------|--------:|--------:|"  # numbers stay right-aligned
    assert [cell.strip() for cell in rows[3].strip("|").split("|")] == ["", "", ""]
    assert "nan" not in rows[3] and "<NA>" not in rows[3]


def test_rewriting_identical_bytes_leaves_the_file_untouched(tmp_path):
    df = pd.DataFrame({"x": [1]})
    save_table(df, "t", title="t", directory=tmp_path)
    before = (tmp_path / "t.csv").stat().st_mtime_ns
    save_table(df, "t", title="t", directory=tmp_path)
    assert (tmp_path / "t.csv").stat().st_mtime_ns == before


@pytest.mark.parametrize("name", ["sub/x", "x.csv"])
def test_exhibit_names_are_bare_stems(tmp_path, name):
    with pytest.raises(ValueError, match="bare stem"):
        save_table(pd.DataFrame({"x": [1]}), name, title="t", directory=tmp_path)


def _coding(source: str, worksheet: str | None, n: int, simulated: bool) -> pd.DataFrame:
    cases = pd.DataFrame({"case_id": [f"C{k}" for k in range(n)], "coding_source": "simulated" if simulated else "x"})
    cases.attrs.update(source_file=source, worksheet=worksheet, simulated=simulated)
    return cases


def test_an_exhibit_comparing_two_codings_names_both_with_file_and_worksheet(tmp_path):
    """Reliability compares two codings: its label names the first and the second (file and worksheet), not the
    second alone; with a simulated coding it still says SIMULATED, and the table's data column says simulated."""
    from upgrading.compendium.exhibits import label_figure

    first = _coding("my_coding.xlsx", "first_coder", 30, False)
    second = _coding("my_coding.xlsx", "second_coder", 12, False)
    save_table(pd.DataFrame({"x": [1]}), "rel", title="t", directory=tmp_path, cases=first, second_coding=second)
    expected = (
        "**Coded data: first coding my_coding.xlsx, worksheet 'first_coder', 30 cases; second coding my_coding.xlsx, "
        "worksheet 'second_coder', 12 cases.**"
    )
    assert expected in (tmp_path / "rel.md").read_text()
    assert (tmp_path / "rel.csv").read_text() == "data,x\ncoded,1\n"
    fig = _figure()
    label_figure(fig, first, second_coding=second)
    (text,) = fig.texts
    assert "first coding my_coding.xlsx, worksheet 'first_coder'" in text.get_text().replace("\n", " ")
    assert "second coding my_coding.xlsx, worksheet 'second_coder'" in text.get_text().replace("\n", " ")
    plt.close(fig)
    simulated = _coding("data/raw/second.csv", None, 50, True)
    save_table(pd.DataFrame({"x": [1]}), "rel", title="t", directory=tmp_path, cases=first, second_coding=simulated)
    md = (tmp_path / "rel.md").read_text()
    assert "**SIMULATED DATA (first coding my_coding.xlsx, worksheet 'first_coder'; second coding " in md
    assert "the second coding is simulated" in md and "data/raw/second.csv" in md
    assert (tmp_path / "rel.csv").read_text() == "data,x\nsimulated,1\n"
    both = _coding("data/raw/first.csv", None, 50, True)
    save_table(pd.DataFrame({"x": [1]}), "rel", title="t", directory=tmp_path, cases=both, second_coding=simulated)
    assert (
        "SIMULATED DATA (first coding data/raw/first.csv; second coding data/raw/second.csv): simulated coding "
        "sheets, not the study's coding" in (tmp_path / "rel.md").read_text()
    )
    with pytest.raises(ValueError, match="pass both"):
        save_table(pd.DataFrame({"x": [1]}), "rel", title="t", directory=tmp_path, second_coding=second)
