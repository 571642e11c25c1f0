"""Notebook 06's exhibits (robustness of verdicts), checked against the exhibits and commands they must agree with:
the primary specification is claims_verdicts' raw verdict, the second coder's no-pooling specification is
`upgrading claims --coding <second coder's sheet>`, and the design rates beside each claim are power_table's; and
the pieces the notebook draws and writes them with."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from helpers import SECOND_CODER_SHEET

from upgrading.compendium.cli import main
from upgrading.paths import ROOT
from upgrading.study import narrative_robustness, plots_robustness, power, robustness, robustness_choices
from upgrading.study.register import load_register

matplotlib.use("Agg")
FIGURES = ROOT / "figures"
TABLE = pd.read_csv(FIGURES / "claims_robustness.csv")
SUMMARY = pd.read_csv(FIGURES / "claims_robustness_summary.csv")


def _by_id(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.Series(frame[column].to_numpy(), index=frame["id"].to_numpy())


def test_the_primary_specification_is_exactly_claims_verdicts():
    verdicts = pd.read_csv(FIGURES / "claims_verdicts.csv")
    primary = TABLE[TABLE["primary"]]
    assert set(primary["specification"]) == {"first / no pooling"}
    assert list(primary["id"]) == list(verdicts["id"])
    assert list(primary["verdict"]) == list(verdicts["verdict"])
    np.testing.assert_array_equal(primary["estimate"].to_numpy(), verdicts["estimate"].to_numpy())


def test_the_second_coders_specification_is_the_claims_command_on_their_sheet(tmp_path, capsys):
    out = tmp_path / "second.csv"
    assert main(["claims", "--coding", str(SECOND_CODER_SHEET), "--out", str(out)]) == 0
    capsys.readouterr()
    command = pd.read_csv(out)
    second = TABLE[TABLE["specification"] == "second / no pooling"]
    assert list(second["id"]) == list(command["id"]) and list(second["verdict"]) == list(command["verdict"])


def test_every_declared_specification_the_simulated_sheets_allow_is_there_once_per_claim():
    expected = [s.name for s in robustness_choices.specifications() if s.missing == "complete cases"]
    assert list(dict.fromkeys(TABLE["specification"])) == expected and len(expected) >= 12
    assert TABLE.groupby("id").size().eq(len(expected)).all()
    assert list(TABLE.columns[1:]) == list(robustness.COLUMNS) and set(TABLE["data"]) == {"simulated"}


def test_the_summary_counts_the_table_and_carries_power_tables_rates():
    assert list(SUMMARY["id"]) == list(dict.fromkeys(TABLE["id"]))
    for _, row in SUMMARY.iterrows():
        cells = TABLE[TABLE["id"] == row["id"]]
        counts = cells["verdict"].value_counts()
        assert [row[v] for v in robustness.CELL_VERDICTS] == [counts.get(v, 0) for v in robustness.CELL_VERDICTS]
        assert row[robustness.NOT_DECIDED] == int((~cells["decided"] & (cells["verdict"] != "not applicable")).sum())
    power_table = pd.read_csv(FIGURES / "power_table.csv")
    cell = power_table[(power_table["n_cases"] == 50) & (power_table["effect_scale"] == 1.0)]
    cell = cell.set_index(["scope", "kind"])
    scored = SUMMARY[SUMMARY["design_scope"].notna()]
    assert len(scored) == 24  # the table's cells; textual claims are not scored
    for row in scored.itertuples(index=False):
        for rate in ("p_right", "p_wrong", "p_inconclusive", "mcse_wrong"):
            assert getattr(row, rate) == pytest.approx(cell.loc[(row.design_scope, row.design_kind), rate], abs=1e-4)
    assert SUMMARY.loc[SUMMARY["design_scope"].isna(), "design_note"].eq(power.NOT_STUDIED).all()


def test_a_sheet_too_small_for_a_design_cell_gets_no_rates_and_says_why():
    rates = power.rates_at_sheet_size(load_register(), power.MIN_CASES - 1)
    assert rates[power.CLAIM_RATES].isna().all().all()
    assert rates["design_note"].str.contains(f"at least {power.MIN_CASES} cases").all()


def _small_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three claims under the first coding's specifications: one robust, one depending on the link, one cell that
    could not decide."""
    specs = robustness_choices.specifications(codings=["first"])
    rows = []
    for claim in ("A", "B", "C"):
        for s in specs:
            verdict = "consistent" if claim != "B" or s.link != "cloglog" else "inconclusive"
            decided = not (claim == "C" and s.proportional_odds != "assumed")
            choices = {c: getattr(s, c) for c in robustness_choices.CHOICE_COLUMNS}
            rows.append(
                {"id": claim, "specification": s.name, "primary": s.primary, "verdict": verdict, "decided": decided}
                | choices
            )
    table = pd.DataFrame(rows)
    return table, robustness.robustness_summary(table)


def test_the_grid_has_one_cell_per_claim_and_specification_and_outlines_the_primary():
    table, summary = _small_table()
    fig = plots_robustness.specification_grid(table, summary)
    ax = fig.axes[0]
    patches = [p for p in ax.patches if p.get_fill()]
    n_specs = table["specification"].nunique()
    assert len(patches) == len(table) == 3 * n_specs
    assert sum(1 for p in patches if p.get_hatch()) == int((~table["decided"]).sum())
    outlines = [p for p in ax.patches if not p.get_fill()]
    assert len(outlines) == 1 and outlines[0].get_x() == 0 and outlines[0].get_height() == 3
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["robust", "depends", "robust"]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(dict.fromkeys(table["specification"]))
    matplotlib.pyplot.close(fig)


def test_the_narrative_reads_its_numbers_from_the_summary():
    table, summary = _small_table()
    text = narrative_robustness.robustness_reading(table, summary, simulated=True)
    assert "Each of the 3 claims was decided under 9 specifications. 2 keep the primary verdict" in text
    assert "1 depend on some choice (claims whose label names each choice: link 1)" in text
    assert "not findings about Latin American clusters" in text and robustness.SENSITIVITY in text
    assert "not findings" not in narrative_robustness.robustness_reading(table, summary, simulated=False)
    assert set(table["coding"]) == {"first"} and "second simulated coder" not in text  # no second coding here
    both = table.assign(coding=["second"] + ["first"] * (len(table) - 1))
    assert "a second simulated coder's disagreements" in narrative_robustness.robustness_reading(both, summary, True)
    rated = SUMMARY
    reading = narrative_robustness.design_reading(rated)
    assert f"scores {int(rated['p_right'].notna().sum())} of the {len(rated)} claims" in reading
    assert reading.endswith("a claim about a group gets its rates even where this sheet cannot test it.")
    never_wrong = narrative_robustness.design_reading(rated.assign(primary_verdict="consistent", p_wrong=0.0))
    assert "for such claims is 0 (no replicate gave one)." in never_wrong and "at most 0.000" not in never_wrong
    choices = narrative_robustness.choices_table(robustness_choices.load_choices())
    assert choices["primary"].sum() == len(robustness_choices.CHOICE_COLUMNS)
