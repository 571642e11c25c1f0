"""Notebook 06's exhibits (robustness of verdicts), checked against the exhibits and commands they must agree with:
the primary specification is claims_verdicts' raw verdict, the second coder's no-pooling specification is
`upgrading claims --coding <second coder's sheet>`, and the design rates beside each claim are power_table's; and
the pieces the notebook draws and writes them with."""

import matplotlib
import numpy as np
import pandas as pd
import pytest
from helpers import SECOND_CODER_SHEET, labelled_cases

from upgrading.compendium.cli import main
from upgrading.paths import ROOT
from upgrading.study import narrative_robustness, plots_robustness, power, power_rates, robustness, robustness_choices
from upgrading.study.codebook import load_codebook
from upgrading.study.register import load_register

matplotlib.use("Agg")
FIGURES = ROOT / "figures"
TABLE = pd.read_csv(FIGURES / "claims_robustness.csv")
SUMMARY = pd.read_csv(FIGURES / "claims_robustness_summary.csv")


def _by_id(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.Series(frame[column].to_numpy(), index=frame["id"].to_numpy())


def test_the_exhibits_name_both_codings_they_are_made_from():
    """Half the specifications are decided on the second coding: the exhibits' provenance names it beside the first
    (a coded first sheet with a simulated second one is then labelled simulated, not coded)."""
    both = "first coding data/raw/coding_sheet_simulated.csv; second coding data/raw/coding_sheet_simulated_second"
    for name in ("claims_robustness.md", "claims_robustness_summary.md"):
        assert f"**SIMULATED DATA ({both}_coder.csv): simulated coding sheets" in (FIGURES / name).read_text(), name


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
    assert SUMMARY.loc[SUMMARY["design_scope"].isna(), "design_note"].eq(power_rates.NOT_STUDIED).all()


def _sheet_of_shape(shape) -> pd.DataFrame:
    codes = load_codebook().group_codes
    return pd.DataFrame({"sectoral_group": [code for code, k in zip(codes, shape) for _ in range(k)]})


@pytest.mark.slow
def test_the_design_rates_are_those_of_sheets_with_this_sheets_cases_in_each_group(tmp_path, monkeypatch):
    """A sheet of 30 cases, 14/9/5/2 by group (not the generator's 11/9/5/5): its rates come from replicates of that
    shape, which differ from the generator's split of 30 cases, and its note says so; a sheet of the generator's
    shape at 50 cases reads the study's own cell (power_table's rows)."""
    from upgrading import paths

    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    register = load_register()
    cell = power.DesignCell(30, 1.0, (14, 9, 5, 2))
    sheet = power.replicate_sheet(power.simulate_chunk(cell.seeds(7, 0, 1), 30, 1.0, sizes=cell.sizes()), 0)
    assert power_rates.sheet_shape(sheet) == (14, 9, 5, 2)  # the replicates have the sheet's shape
    shaped = power_rates.rates_at_sheet_shape(register, _sheet_of_shape((14, 9, 5, 2)), replicates=6, seed=7)
    generator = power.summarise(power.run(6, (30,), (1.0,), seed=7, progress=False))
    split = power_rates.rates_by_claim(generator, register, 30)
    scored = shaped["design_scope"] != ""
    assert scored.sum() == 24 and not shaped.loc[scored, power_rates.CLAIM_RATES].isna().any().any()
    assert not shaped.loc[scored, "p_inconclusive"].equals(split.loc[scored, "p_inconclusive"])
    assert shaped.loc[scored, "design_note"].str.contains("30 cases (14/9/5/2 by sectoral group, as in this sheet)",
                                                          regex=False).all()  # fmt: skip
    own = power_rates.rates_at_sheet_shape(register, _sheet_of_shape((18, 14, 9, 9)), replicates=6, seed=7)
    assert (
        own.loc[scored, "design_note"]
        .str.contains("50 cases (18/14/9/9 by sectoral group, the generator's split)", regex=False)
        .all()
    )
    assert own.loc[scored, "design_note"].str.endswith("(power_table)").all()
    assert not shaped["design_note"].str.endswith("(power_table)").any()  # not a cell of power_table
    study = power.summarise(power.run(6, (50,), (1.0,), seed=7, progress=False))
    columns = ["design_scope", "design_kind", *power_rates.CLAIM_RATES]
    pd.testing.assert_frame_equal(own[columns], power_rates.rates_by_claim(study, register, 50)[columns])
    kept = sorted(p.name.split("-")[0] for p in (tmp_path / "data" / "interim").glob("*.pickle"))
    assert kept == ["power_n30_scale1_groups14_9_5_2", "power_n50_scale1"]


def test_a_sheet_too_small_for_the_generators_split_gets_rates_at_its_own_shape(tmp_path, monkeypatch):
    """Five cases, one group absent: no crash; its claims get rates (mostly inconclusive), the absent group's
    claims are never decided right or wrong."""
    from upgrading import paths

    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    rates = power_rates.rates_at_sheet_shape(load_register(), _sheet_of_shape((2, 2, 1, 0)), replicates=4, seed=7)
    scored = rates[rates["design_scope"] != ""]
    assert (
        len(scored) == 24
        and scored["design_note"].str.contains("5 cases (2/2/1/0 by sectoral group", regex=False).all()
    )
    absent = scored[scored["design_scope"] == "specialised_suppliers"]
    assert len(absent) and (absent["p_inconclusive"] == 1.0).all()
    # their note says why (no cases of the group), and the reading leaves them out of its ranges (a new-user trial:
    # "right in 0.00-0.17" counted claims that no replicate can decide)
    assert absent["design_note"].str.endswith(power_rates.NO_CASES).all()
    assert (
        not scored.loc[scored["design_scope"] != "specialised_suppliers", "design_note"]
        .str.contains(power_rates.NO_CASES, regex=False)
        .any()
    )
    summary = rates.reset_index().assign(primary_verdict="inconclusive")
    reading = narrative_robustness.design_reading(summary)
    assert f"scores {len(scored) - len(absent)} of the 30 claims ({len(absent)} more are about a group with no " in (
        reading
    )
    present = scored[scored["design_scope"] != "specialised_suppliers"]
    assert f"right in {present['p_right'].min():.2f}-{present['p_right'].max():.2f} of replicates" in reading
    only_absent = summary.assign(design_note=summary["design_note"] + f"; {power_rates.NO_CASES}")
    assert "all about groups with no cases on this sheet" in narrative_robustness.design_reading(only_absent)


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


def test_the_verdicts_by_specification_count_the_cells_that_could_not_decide_apart():
    """Claim C's relaxed specification could not decide it: its row counts three verdicts and says one of them was
    not decided; every other specification decided every claim."""
    table, summary = _small_table()
    counts = narrative_robustness.verdicts_by_specification(table)
    assert counts.index.tolist() == list(dict.fromkeys(table["specification"]))
    relaxed = [s for s in counts.index if "relaxed" in s]
    assert counts.loc[relaxed, "of which not decided"].tolist() == [1]
    assert counts.drop(index=relaxed)["of which not decided"].eq(0).all()
    assert counts.drop(columns="of which not decided").sum(axis=1).eq(3).all()
    assert summary.set_index("id").loc["C", "label"] == (
        f"robust (decided by {counts.shape[0] - 2} of the {counts.shape[0] - 1} other specifications)"
    )


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
    text = narrative_robustness.robustness_reading(table, summary, labelled_cases(True))
    assert "Each of the 3 claims was decided under 9 specifications. 2 keep the primary verdict" in text
    assert "1 depends on some choice (claims whose label names each choice alone: link 1)" in text
    # no claim depends on a choice: no "0 depend on some choice (claims whose label names each choice none)"
    # (new-user trial on a one-group sheet)
    steady = narrative_robustness.robustness_reading(table, summary.assign(label="robust"), labelled_cases(False))
    assert "(robust); none depends on any choice; 0 could not be assessed." in steady
    assert "each choice none" not in steady and "0 depend" not in steady
    # the verbs and the sentence on decisive verdicts fit counts of 0 and 1 (new-user trial: "Of the 0 claims ...")
    undecided = summary.assign(primary_verdict="inconclusive")
    none = narrative_robustness.robustness_reading(table, undecided, labelled_cases(False))
    assert "No claim has a decisive primary verdict (consistent or contradicted)." in none
    assert "Of the 0 claims" not in none
    one_robust = summary.assign(primary_verdict=["consistent", "inconclusive", "inconclusive"], label="robust")
    one = narrative_robustness.robustness_reading(table, one_robust, labelled_cases(False))
    assert "The one claim whose primary verdict is decisive (consistent or contradicted) is robust." in one
    lone = narrative_robustness.robustness_reading(
        table,
        one_robust.assign(label=["robust", "depends on link (cloglog)", "not assessed: x"]),
        labelled_cases(False),
    )
    assert "1 keeps the primary verdict under every specification that decides it (robust); 1 depends" in lone
    # the one decisive claim is said to be what its label says: not assessed (only the primary decides it), or
    # depending on a choice, not merely "not robust"; one cell or specification is counted in the singular
    alone = one_robust.assign(label=["not assessed: only the primary specification decides it", "robust", "robust"])
    one_cell = alone.assign(**{robustness.NOT_DECIDED: [1, 0, 0], robustness.NOT_APPLICABLE: [0, 1, 0]})
    said = narrative_robustness.robustness_reading(table, one_cell, labelled_cases(False))
    assert "The one claim whose primary verdict is decisive (consistent or contradicted) is not assessed." in said
    assert (
        "1 cell could not decide its claim" in said
        and "1 is a specification that does not apply to its claim (" in said
    )
    moved = alone.assign(label=["depends on link (cloglog)", "robust", "robust"])
    assert "is decisive (consistent or contradicted) is not robust (it depends on some choice)." in (
        narrative_robustness.robustness_reading(table, moved, labelled_cases(False))
    )
    assert "1 cell could not decide its claim (" in text  # the small table's one (it read "1 cells ... their")
    plural = narrative_robustness.robustness_reading(
        table, summary.assign(**{robustness.NOT_DECIDED: 2, robustness.NOT_APPLICABLE: 0}), labelled_cases(False)
    )
    assert (
        "6 cells could not decide their claim" in plural
        and "0 are specifications that do not apply to theirs (" in plural
    )
    labels = pd.Series(["depends on link (cloglog); coding (second) together with model (partial pooling)",
                        "depends on coding (second) together with model (partial pooling x2)", "robust"])  # fmt: skip
    mixed = narrative_robustness.robustness_reading(table, summary.assign(label=labels), labelled_cases(False))
    assert (
        "(claims whose label names each choice alone: link 1; only together with another: coding 2, model 2)" in mixed
    )  # coding never changes a verdict alone here, so it is not counted as if it did
    # a value marked "alone: not decided" holds a ';' inside its parentheses: it is still named only together
    flagged = pd.Series(
        ["depends on coding (second; alone: not decided) together with model (partial pooling)", "robust", "robust"]
    )
    marked = narrative_robustness.robustness_reading(table, summary.assign(label=flagged), labelled_cases(False))
    assert "(claims whose label names each choice only together with another: coding 1, model 1)" in marked
    # a choice a label names alone is not also counted as named only together (the simulated sheet's CE-PRODUCT-NR)
    both_ways = pd.Series(
        ["depends on model (partial pooling x0.5); coding (second) together with model (partial pooling)", "robust",
         "robust"]
    )  # fmt: skip
    read = narrative_robustness.robustness_reading(table, summary.assign(label=both_ways), labelled_cases(False))
    assert "(claims whose label names each choice alone: model 1; only together with another: coding 1)" in read
    assert "not findings about Latin American clusters" in text and robustness.SENSITIVITY in text
    assert "not findings" not in narrative_robustness.robustness_reading(table, summary, labelled_cases(False))
    assert set(table["coding"]) == {"first"} and "second coding" not in text  # no second coding here
    both = table.assign(coding=["second"] + ["first"] * (len(table) - 1))
    both_read = narrative_robustness.robustness_reading(both, summary, labelled_cases(True))
    assert "the second coding's disagreements" in both_read and "generated with the signs" in both_read
    # a sheet a user labels simulated was not generated here: the text does not say it was (new-user trial)
    invented = narrative_robustness.robustness_reading(table, summary, labelled_cases(True, generated=False))
    assert "generated" not in invented and "this sheet, labelled simulated" in invented
    assert "not findings about Latin American clusters" in invented
    # a coded first sheet beside a simulated second one: the specifications on the second are said to be simulated
    mixed_codings = narrative_robustness.robustness_reading(both, summary, labelled_cases(False), labelled_cases(True))
    assert "**The second coding is simulated**" in mixed_codings and "not findings" in mixed_codings
    coded_second = narrative_robustness.robustness_reading(both, summary, labelled_cases(False), labelled_cases(False))
    assert "not findings" not in coded_second
    rated = SUMMARY
    reading = narrative_robustness.design_reading(rated)
    assert f"scores {int(rated['p_right'].notna().sum())} of the {len(rated)} claims" in reading
    assert reading.endswith("so the rates are those of the sheet's shape, not of its codes.")
    never_wrong = narrative_robustness.design_reading(rated.assign(primary_verdict="consistent", p_wrong=0.0))
    assert "for such claims is 0 (no replicate gave one)." in never_wrong and "at most 0.000" not in never_wrong
    choices = narrative_robustness.choices_table(robustness_choices.load_choices())
    assert choices["primary"].sum() == len(robustness_choices.CHOICE_COLUMNS)


def test_the_narrative_names_a_bound_that_does_not_apply_where_there_is_one():
    """A missing-code bound of a claim whose cases report every code of its outcome is "not applicable"
    (`robustness._unbounded`): the reading's list of what does not apply names it, only where there is one."""
    table, summary = _small_table()
    plain = narrative_robustness.robustness_reading(table, summary, labelled_cases(False))
    assert "missing-code bound" not in plain
    specs = robustness_choices.specifications(codings=["first"])
    bound = next(s for s in specs if s.missing != "complete cases")
    at = (table["id"] == "A") & (table["specification"] == bound.name)
    table.loc[at, ["verdict", "decided"]] = ["not applicable", False]
    text = narrative_robustness.robustness_reading(table, robustness.robustness_summary(table), labelled_cases(False))
    assert (
        "nothing to relax; a missing-code bound where the claim's cases report every code of its outcome, so there "
        "is nothing to bound); both are counted"
    ) in text


def test_the_tables_note_says_each_coding_in_sentences_of_its_own():
    # clauses written to be read mid-sentence ("first coding: ...") start their own sentences in the note
    from upgrading.study.narrative_robustness import codings_note

    table = pd.DataFrame().assign()
    table.attrs = {"missing": "first coding: 3 outcome codes not reported", "second_coding": "the second coder's ..."}
    assert codings_note(table) == "First coding: 3 outcome codes not reported. The second coder's ...."
    table.attrs = {"missing": "first coding: every outcome code reported, so no bounds"}
    assert codings_note(table).endswith("no bounds. No second coder: the first coding only.")
    note = (FIGURES / "claims_robustness.md").read_text()
    assert "(the note says why). First coding: every outcome code reported, so no bounds; second coding:" in note
    assert "so no bounds. The second coder's coding of 50 of 50 cases. Made by" in note


def test_the_design_reading_of_one_decisive_verdict_is_in_the_singular():
    """Trial 44: on a sheet with one decisive primary verdict among the scored claims, notebook 06 read "For the 1 of
    them with a decisive primary verdict, the rate of wrong verdicts for such claims is at most 0.006"."""
    rated = SUMMARY.assign(primary_verdict="inconclusive")
    first = rated.index[rated["p_right"].notna()][0]
    rated.loc[first, "primary_verdict"] = "consistent"
    reading = narrative_robustness.design_reading(rated)
    wrong = rated.loc[first, "p_wrong"]
    said = "0 (no replicate gave one)." if wrong == 0 else f"{wrong:.3f}."
    assert (
        f"For the one of them with a decisive primary verdict, the rate of wrong verdicts for such a claim is {said}"
    ) in reading
    assert "the 1 of them" not in reading and "at most" not in reading
    assert "not the probability that the verdict is wrong" in reading


def test_the_design_reading_names_a_decisive_verdict_on_a_claim_the_design_does_not_score():
    """Trial 44: on a sheet whose one decisive verdict was a textual claim, the reading of the design's rates said
    nothing of it (it has no rate); it now names the claim and says that no rate is shown beside it."""
    rated = SUMMARY.assign(primary_verdict="inconclusive")
    unscored = rated.index[rated["p_right"].isna()]
    assert len(unscored), "the simulated sheets' summary has claims the design does not score (the textual ones)"
    rated.loc[unscored[0], "primary_verdict"] = "contradicted"
    reading = narrative_robustness.design_reading(rated)
    claim = rated.loc[unscored[0], "id"]
    assert (
        f"1 decisive primary verdict is on a claim the design analysis does not score ({claim}), so no rate is shown "
        "beside it."
    ) in reading
    assert "does not score" not in narrative_robustness.design_reading(rated.assign(primary_verdict="inconclusive"))
