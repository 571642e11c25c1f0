"""Descriptive tables against hand counts on a six-case sheet, and the figures drawn from them.

The sheet below has no specialised-suppliers case on purpose: every table and figure must cope with a missing
group. Expected numbers are counted by hand from ROWS, not recomputed with the code under test.
"""

import warnings

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from upgrading import codebook, coding, descriptives, exhibits, plots  # noqa: E402
from upgrading.study import plots_marks as marks  # noqa: E402
from upgrading.study import plots_probabilities  # noqa: E402

# group, industry, external_economies, joint_actions, governance, product, process, functional, intersectoral
ROWS = [
    ("traditional_manufacturing", "Footwear", 2, 1, "market", 3, 2, 0, 1),
    ("traditional_manufacturing", "Furniture", 1, 1, "quasi_hierarchy", 1, 2, 1, 0),
    ("traditional_manufacturing", "Footwear", 3, 3, "hierarchy", 2, 3, 0, 0),
    ("natural_resource_based", "Salmon", 0, 0, "network", 0, 1, 2, 0),
    ("natural_resource_based", "Wine", 2, 2, "quasi_hierarchy", 3, 3, 1, 1),
    ("complex_product_systems", "Aircraft", 1, 2, "market", 2, 0, 0, 3),
]
# collective efficiency by the codebook's rule floor((ee + ja + 1) / 2), by hand: 2, 1, 3, 0, 2, 2
CE = [2, 1, 3, 0, 2, 2]
GROUPS_PRESENT = ["traditional_manufacturing", "natural_resource_based", "complex_product_systems"]


def small_cases(simulated: bool = True) -> pd.DataFrame:
    """Typed cases (as `coding.load_cases` returns them) for ROWS."""
    text = pd.DataFrame(
        [
            {
                "case_id": f"T-{k + 1}",
                "sectoral_group": g,
                "industry": ind,
                "external_economies": str(ee),
                "joint_actions": str(ja),
                "collective_efficiency": str(ce),
                "governance": gov,
                "product_upgrading": str(p),
                "process_upgrading": str(q),
                "functional_upgrading": str(f),
                "intersectoral_upgrading": str(i),
                "coding_source": "simulated" if simulated else "coded",
            }
            for k, ((g, ind, ee, ja, gov, p, q, f, i), ce) in enumerate(zip(ROWS, CE))
        ]
    )
    cases = coding.to_cases(text)
    cases.attrs["source_file"] = "tests/small.csv"
    cases.attrs["simulated"] = simulated
    cases.attrs["generated"] = simulated  # read as the compendium's own simulated sheet (`coding.from_generator`)
    return cases


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _row(table, **where):
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= table[column] == value
    (index,) = np.flatnonzero(mask)
    return table.iloc[index]


# tables -----------------------------------------------------------------------------------------------------


def test_upgrading_by_group_counts_means_and_shares_by_hand():
    table = descriptives.upgrading_by_group(small_cases())
    assert len(table) == 4 * 4  # four forms x (three groups present + all)
    assert list(dict.fromkeys(table["sectoral_group"])) == [*GROUPS_PRESENT, "all"]
    trad = _row(table, form="product_upgrading", sectoral_group="traditional_manufacturing")  # scores 3, 1, 2
    assert (trad["cases"], trad["mean"], trad["share_medium_or_high"]) == (3, 2.0, pytest.approx(2 / 3))
    assert [trad[f"score_{k}"] for k in range(4)] == [0, 1, 1, 1]
    nr = _row(table, form="product_upgrading", sectoral_group="natural_resource_based")  # scores 0, 3
    assert (nr["cases"], nr["mean"], nr["share_medium_or_high"]) == (2, 1.5, 0.5)
    assert [nr[f"score_{k}"] for k in range(4)] == [1, 0, 0, 1]
    everyone = _row(table, form="product_upgrading", sectoral_group="all")  # scores 3, 1, 2, 0, 3, 2
    assert everyone["cases"] == 6 and everyone["mean"] == pytest.approx(11 / 6)
    assert [everyone[f"score_{k}"] for k in range(4)] == [1, 1, 2, 2]
    inter = _row(table, form="intersectoral_upgrading", sectoral_group="complex_product_systems")  # score 3
    assert [inter[f"score_{k}"] for k in range(4)] == [0, 0, 0, 1] and inter["share_medium_or_high"] == 1.0


def test_governance_by_group_counts_and_leader_share_by_hand():
    table = descriptives.governance_by_group(small_cases())
    assert list(table["sectoral_group"]) == GROUPS_PRESENT
    assert table[["market", "network", "quasi_hierarchy", "hierarchy"]].to_numpy().tolist() == [
        [1, 0, 1, 1],
        [0, 1, 1, 0],
        [1, 0, 0, 0],
    ]
    assert table["cases"].tolist() == [3, 2, 1]
    assert table["share_leader_driven"].tolist() == pytest.approx([2 / 3, 1 / 2, 0.0])


def test_collective_efficiency_by_group_by_hand():
    table = descriptives.collective_efficiency_by_group(small_cases())
    trad = _row(table, sectoral_group="traditional_manufacturing")
    assert trad["mean_external_economies"] == 2.0 and trad["mean_joint_actions"] == pytest.approx(5 / 3)
    assert trad["mean_collective_efficiency"] == 2.0
    assert [trad[f"collective_efficiency_{k}"] for k in range(4)] == [0, 1, 1, 1]
    everyone = _row(table, sectoral_group="all")
    assert everyone["cases"] == 6 and [everyone[f"collective_efficiency_{k}"] for k in range(4)] == [1, 1, 3, 1]


def test_cases_by_group_lists_industries_with_counts():
    table = descriptives.cases_by_group(small_cases())
    assert table["cases"].tolist() == [3, 2, 1]
    assert table["industries"].tolist() == ["Footwear (2), Furniture (1)", "Salmon (1), Wine (1)", "Aircraft (1)"]


# figures ----------------------------------------------------------------------------------------------------


def _labels(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def test_upgrading_distribution_panels_legend_and_bar_shares():
    cases = small_cases()
    fig = plots.upgrading_distribution(descriptives.upgrading_by_group(cases))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        "Product upgrading",
        "Process upgrading",
        "Functional upgrading",
        "Intersectoral upgrading",
    ]
    product = axes[0]
    # bars run bottom-up in reverse group order; the missing group has no bar and no label
    assert _labels(product) == [
        "All cases",
        "Complex product systems",
        "Natural-resource based",
        "Traditional manufacturing",
    ]
    # one legend, the figure's, under the panels (one hung from the first panel widened every gap between panels)
    assert product.get_legend() is None and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["0 absent", "1 low", "2 medium", "3 high"]
    fig.draw_without_rendering()
    gaps = [b.get_position().x0 - a.get_position().x1 for a, b in zip(axes, axes[1:])]
    assert max(gaps) < 0.6 * axes[0].get_position().width  # panels wider than the gaps between them
    assert fig.legends[0].get_window_extent().y1 < min(ax.get_tightbbox().y0 for ax in axes)  # under the panels
    widths = np.array([[bar.get_width() for bar in container] for container in product.containers])  # score x row
    # traditional manufacturing (top row): product scores 3, 1, 2 -> shares 0, 1/3, 1/3, 1/3
    assert widths[:, -1] == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3])
    assert widths.sum(axis=0) == pytest.approx(np.ones(4))
    assert sorted(t.get_text() for t in product.texts) == ["n=1", "n=2", "n=3", "n=6"]


def test_governance_mix_bars_are_the_counts():
    fig = plots.governance_mix(descriptives.governance_by_group(small_cases()))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Market", "Network", "Quasi-hierarchy", "Hierarchy"]
    assert _labels(ax) == ["Complex product systems", "Natural-resource based", "Traditional manufacturing"]
    widths = [[bar.get_width() for bar in container] for container in ax.containers]  # form x row (reversed)
    assert widths == [[1, 0, 1], [0, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert ax.get_xlabel() == "number of cases"


def test_governance_mix_counts_in_whole_numbers():
    """The axis counts cases: its ticks are whole numbers (with at most 3 cases a bar, the default ticks would be
    0, 0.5, 1, ...)."""
    fig = plots.governance_mix(descriptives.governance_by_group(small_cases()))
    (ax,) = fig.axes
    fig.draw_without_rendering()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks)
    assert all(label.get_text().lstrip("−-").isdigit() for label in ax.get_xticklabels() if label.get_text())


def test_governance_mix_draws_the_cases_whose_governance_is_not_reported():
    """A case whose governance is not reported is a grey segment of its own, so each bar counts all the group's
    cases, as the footer does (it used to be left out silently)."""
    cases = small_cases()
    cases.loc[1, "governance"] = np.nan  # the traditional-manufacturing quasi-hierarchy case
    table = descriptives.governance_by_group(cases)
    assert table["not_reported"].tolist() == [1, 0, 0]
    (ax,) = plots.governance_mix(table).axes
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "Not reported"
    widths = np.array([[bar.get_width() for bar in container] for container in ax.containers])  # form x row
    assert widths[-1].tolist() == [0, 0, 1]  # rows bottom-up: complex product systems, natural resources, trad.
    assert mcolors.to_hex(ax.containers[-1][2].get_facecolor()) == plots.NOT_REPORTED_COLOUR
    assert widths.sum(axis=0).tolist() == [1, 2, 3]  # every case of ROWS, by group


def test_collective_efficiency_heatmap_annotates_the_counts():
    table = descriptives.collective_efficiency_by_group(small_cases())
    fig = plots.collective_efficiency_heatmap(table[table["sectoral_group"] != "all"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0", "1", "1", "1", "1", "0", "1", "0", "0", "0", "1", "0"]
    assert _labels(ax) == ["Traditional manufacturing", "Natural-resource based", "Complex product systems"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0 absent", "1 low", "2 medium", "3 high"]


def test_collective_efficiency_heatmap_counts_the_cases_not_reported_in_a_grey_column():
    """A case whose collective efficiency is not reported (not derivable: a component not reported) is counted in a
    grey 'not reported' column, so each row sums to its group's cases."""
    cases = small_cases()
    cases.loc[cases.index[0], ["external_economies", "joint_actions", "collective_efficiency"]] = np.nan
    table = descriptives.collective_efficiency_by_group(cases)
    table = table[table["sectoral_group"] != "all"]
    fig = plots.collective_efficiency_heatmap(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0 absent", "1 low", "2 medium", "3 high", "not reported"]
    counts = np.array([int(t.get_text()) for t in ax.texts])
    assert counts.sum() == table["cases"].sum()  # every case counted once, the one not reported among them
    grey = [q for q in ax.collections if q.get_array() is not None and q.get_array().count() == len(table)]
    assert len(grey) == 1 and mcolors.to_hex(grey[0].get_cmap()(0)) == plots.NOT_REPORTED_COLOUR
    plt.close(fig)


def test_reliability_intervals_plot_alpha_and_benchmarks():
    table = pd.DataFrame(
        {
            "variable": ["governance", "product_upgrading"],
            "metric": ["nominal", "ordinal"],
            "alpha": [0.9, 0.6],
            "ci_low": [0.8, 0.3],
            "ci_high": [1.0, 0.8],
        }
    )
    fig = plots.reliability_intervals(table)
    (ax,) = fig.axes
    assert _labels(ax) == ["Product upgrading (ordinal)", "Value-chain governance (nominal)"]
    points = ax.lines[0]
    assert list(points.get_xdata()) == [0.6, 0.9]
    benchmarks = {line.get_linestyle(): line.get_xdata()[0] for line in ax.lines if line.get_linestyle() != "None"}
    assert benchmarks == {":": 0.667, "--": 0.8}


@pytest.mark.parametrize("defined", [True, False])
def test_a_reliability_row_without_alpha_says_why_instead_of_staying_blank(defined):
    """A variable no double-coded case codes has no alpha: its row says so (and a figure where no alpha is
    defined at all is still drawn, without an all-NaN warning)."""
    table = pd.DataFrame(
        {
            "variable": ["governance", "product_upgrading"],
            "metric": ["nominal", "ordinal"],
            "alpha": [0.9 if defined else np.nan, np.nan],
            "ci_low": [0.8 if defined else np.nan, np.nan],
            "ci_high": [1.0 if defined else np.nan, np.nan],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.reliability_intervals(table)
    (ax,) = fig.axes
    said = [t for t in ax.texts if t.get_text().startswith("alpha undefined")]
    assert [t.get_position()[1] for t in said] == ([0] if defined else [0, 1])  # rows bottom-up: product first
    assert ax.get_xlim()[1] == 1.02


def _estimates(groups):
    rows = []
    for form in ("product_upgrading", "process_upgrading"):
        for predictor in ("collective_efficiency", "leader_driven"):
            for k, group in enumerate(groups):
                rows.append(
                    {
                        "form": form,
                        "predictor": predictor,
                        "sectoral_group": group,
                        "odds_ratio": 2.0 + k,
                        "or_conf_low": 0.5,
                        "or_conf_high": 500.0 if k == 0 else 8.0,
                        "method": "jeffreys" if k == 1 else "ml",
                    }
                )
    return pd.DataFrame(rows)


def test_odds_ratio_forest_draws_one_interval_per_estimate_and_survives_a_missing_group():
    fig = plots.odds_ratio_forest(_estimates(GROUPS_PRESENT))
    assert len(fig.axes) == 2 * 2
    ax = fig.axes[0]
    assert ax.get_title() == "Product upgrading" and ax.get_xscale() == "log"
    assert _labels(ax)[0] == "Specialised suppliers"  # listed, with nothing drawn for it
    estimates = [line for line in ax.lines if line.get_marker() == "o"]
    assert len(estimates) == len(GROUPS_PRESENT)
    open_markers = [line for line in estimates if mcolors.same_color(line.get_markerfacecolor(), "white")]
    assert len(open_markers) == 1  # the one penalised estimate
    assert any(line.get_marker() == ">" for line in ax.lines), "an interval past the axis gets an arrow"


def _effects(groups, conf_high=0.4):
    """Rows of `probabilities.marginal_effects_table` at level '>=2' for `groups`; the first group's interval of
    collective efficiency on product upgrading ends at `conf_high`."""
    rows = []
    for form in ("product_upgrading", "process_upgrading"):
        for predictor in ("collective_efficiency", "leader_driven"):
            for k, group in enumerate(groups):
                high = conf_high if (k, form, predictor) == (0, "product_upgrading", "collective_efficiency") else 0.4
                rows.append(
                    {
                        "form": form,
                        "predictor": predictor,
                        "sectoral_group": group,
                        "level": ">=2",
                        "estimate": 0.1,
                        "conf_low": -0.2,
                        "conf_high": high,
                        "method": "ml",
                        "note": "",
                    }
                )
    return pd.DataFrame(rows)


def test_marginal_effects_forest_draws_an_interval_past_the_axis_to_its_edge_with_an_arrow():
    """A delta-method interval can reach past +-1: like the odds-ratio forest, it is drawn to the axis's edge and
    ends in an arrow there (it used to be clipped without one)."""
    fig = plots_probabilities.marginal_effects_forest(_effects(GROUPS_PRESENT, conf_high=1.4))
    product_ce = fig.axes[0]
    assert product_ce.get_xlim() == (-1, 1)
    arrows = [line for line in product_ce.lines if line.get_marker() == ">"]
    assert [(list(a.get_xdata()), list(a.get_ydata())) for a in arrows] == [([1], [3])]  # the top row
    assert max(max(line.get_xdata()) for line in product_ce.lines) == 1
    assert not any(line.get_marker() in "<>" for ax in fig.axes[1:] for line in ax.lines)


def _blank_rows(forest):
    """`forest`'s table (odds ratios or marginal effects) for GROUPS_PRESENT, and a specialised-suppliers row
    without an estimate whose note gives the reason and the complete-case count."""
    note = "collective_efficiency constant in the group; complete cases: 27 of 30 (3 with a variable not reported)"
    if forest == "odds ratios":
        table = _estimates(GROUPS_PRESENT)
        blank = table[table["sectoral_group"] == GROUPS_PRESENT[0]].assign(
            sectoral_group="specialised_suppliers", odds_ratio=np.nan, or_conf_low=np.nan, or_conf_high=np.nan
        )
        return plots.odds_ratio_forest, pd.concat([table.assign(note=""), blank.assign(note=note)])
    table = _effects(GROUPS_PRESENT)
    blank = table[table["sectoral_group"] == GROUPS_PRESENT[0]].assign(
        sectoral_group="specialised_suppliers", level=np.nan, estimate=np.nan, conf_low=np.nan, conf_high=np.nan
    )
    return plots_probabilities.marginal_effects_forest, pd.concat([table, blank.assign(note=note)])


@pytest.mark.parametrize("forest", ["odds ratios", "marginal effects"])
def test_a_forest_row_without_an_estimate_says_why(forest):
    """A group row without an estimate reads its reason from the table's note (without the complete-case count, no
    reason), inside the axis, as the predicted-probability panels do; a panel with no estimate and no reason says
    'not estimable' once."""
    draw, table = _blank_rows(forest)
    fig = draw(table)
    for ax in fig.axes:
        (said,) = ax.texts
        assert said.get_text() == "collective_efficiency constant in the group" and said.get_position()[1] == 0
        assert ax.get_ylim()[0] < -0.1 and ax.get_ylim()[1] > 3.1  # the blank bottom row stays inside
    plt.close(fig)
    key = "odds_ratio" if forest == "odds ratios" else "estimate"
    fig = draw(table.assign(**{key: np.nan, "note": ""}))
    assert [[t.get_text() for t in ax.texts] for ax in fig.axes] == [["not estimable"]] * 4


@pytest.mark.parametrize("forest", ["odds ratios", "marginal effects"])
def test_a_long_reason_stays_inside_its_row_and_panel(forest):
    """A reason too long for its row (on the bottom row, whose band the axes cut) is wrapped to the panel's width,
    shortened with an ellipsis to the row's height, and stays inside the panel and its row: it does not cover the
    next row, the panel's title or its neighbour."""
    draw, table = _blank_rows(forest)
    table["note"] = table["note"].where(table["note"] == "", LONG_REASON)
    fig = draw(table)
    fig.draw_without_rendering()
    for ax in fig.axes:
        (said,) = ax.texts
        assert said.get_text().endswith(marks.ELLIPSIS) and "\n" in said.get_text()
        assert " ".join(said.get_text().split("\n"))[:-1] in LONG_REASON
        assert _inside(said, ax.bbox)
        assert said.get_window_extent().y1 <= ax.transData.transform((0, 0.5))[1]  # below the next row's band


@pytest.mark.slow
def test_a_long_reason_stays_inside_its_predicted_probability_panel():
    """A panel without predictions says why in lines wrapped to the panel, shortened with an ellipsis where they
    would outgrow it, not across its neighbours."""
    rows = [
        {"form": "process_upgrading", "sectoral_group": "traditional_manufacturing", "level": level,
         "collective_efficiency": ce, "probability": 0.25, "conf_low": 0.1, "conf_high": 0.4, "note": ""}
        for level in range(4) for ce in range(4)
    ]  # fmt: skip
    blank = {"form": "process_upgrading", "sectoral_group": "complex_product_systems", "probability": np.nan}
    collinear = LONG_REASON.split("; ")[0]  # fits whole, in lines
    for note in (collinear, " ".join([LONG_REASON] * 3)):
        fig = plots_probabilities.predicted_probability_curves(pd.DataFrame([*rows, blank | {"note": note}]))
        fig.draw_without_rendering()
        panel = fig.axes[2]  # complex product systems
        (said,) = panel.texts
        assert _inside(said, panel.bbox) and said.get_text().count("\n") >= 2
        assert (" ".join(said.get_text().split("\n")) == note) == (note == collinear)
        assert said.get_text().endswith(marks.ELLIPSIS) == (note != collinear)
        plt.close(fig)


def test_claims_grid_colours_each_cell_by_its_verdict():
    verdicts = ["consistent", "contradicted", "inconclusive"]
    rows = [
        {
            "kind": "table cell",
            "predictor": "collective_efficiency",
            "outcome": "product_upgrading",
            "sectoral_group": group,
            "verdict": verdict,
            "verdict_holm": "inconclusive",
            "published_wording": "Positive",
            "estimate": 0.5,
            "ci_low": -0.1,
            "ci_high": 1.2,
            "fit": "ml",
        }
        for group, verdict in zip(GROUPS_PRESENT, verdicts)
    ]
    fig = plots.claims_grid(pd.DataFrame(rows))
    ax = fig.axes[0]
    cells = [p for p in ax.patches if isinstance(p, plt.Rectangle)]
    assert [mcolors.to_hex(p.get_facecolor()) for p in cells] == [plots.VERDICT_COLOURS[v] for v in verdicts]
    texts = [t.get_text() for t in ax.texts]
    assert "consistent (Holm: inconclusive)" in texts and "OR 1.65 [0.90, 3.32]" in texts
    assert [t.get_text() for t in ax.get_legend().get_texts()] == verdicts
    plt.close(fig)
    rows[2] |= {"fit": "not estimable", "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "note": "no cases in this group"}  # fmt: skip
    fig = plots.claims_grid(pd.DataFrame(rows))
    ax = fig.axes[0]
    cells = [p for p in ax.patches if isinstance(p, plt.Rectangle)]
    assert mcolors.to_hex(cells[2].get_facecolor()) == plots.VERDICT_COLOURS["not estimable"]
    texts = [t.get_text() for t in ax.texts]
    assert "not estimable: no cases in this group" in texts and "cannot be tested on this sheet" in texts
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [*verdicts, "not estimable"]
    plt.close(fig)


def _inside(text, box, slack=0.5) -> bool:
    """`text`, as drawn, within `box` (display coordinates; `slack` pixels for rounding)."""
    drawn = text.get_window_extent()
    return (
        box.x0 - slack <= drawn.x0
        and drawn.x1 <= box.x1 + slack
        and box.y0 - slack <= drawn.y0 <= drawn.y1 <= box.y1 + slack
    )


def _untested_cell(note: str, group: str = "specialised_suppliers") -> dict:
    return {
        "kind": "table cell",
        "predictor": "leader_driven",
        "outcome": "product_upgrading",
        "sectoral_group": group,
        "verdict": "inconclusive",
        "verdict_holm": "inconclusive",
        "published_wording": "None",
        "estimate": np.nan,
        "fit": "not estimable",
        "note": note,
    }


def _grid_rows(cell: dict) -> list[dict]:
    """The claims grid's six rows (predictor x form) in every group, `cell` in its place, the others estimated
    (the cells are the size they have on a real sheet)."""
    rows = []
    for predictor in ("collective_efficiency", "leader_driven"):
        for outcome in ("product_upgrading", "process_upgrading", "functional_upgrading"):
            for group in codebook.load_codebook().group_codes:
                where = {"predictor": predictor, "outcome": outcome, "sectoral_group": group}
                same = all(cell[k] == v for k, v in where.items())
                rows.append(cell if same else _untested_cell("") | where | {"estimate": 0.5, "ci_low": -0.1,
                                                                           "ci_high": 1.2, "fit": "ml"})  # fmt: skip
    return rows


def _cell_of(ax, text) -> plt.Rectangle:
    """The grid's cell (a rectangle) that holds `text`'s anchor."""
    x, y = text.get_position()
    (cell,) = [
        p for p in ax.patches if isinstance(p, plt.Rectangle) and p.contains_point(ax.transData.transform((x, y)))
    ]
    return cell


#: A reason that needs more lines than any panel or cell has: made of the longest notes a small sheet gives.
LONG_REASON = (
    "on process upgrading, leader-driven governance moves with collective efficiency in the 5 complete cases of "
    "complex product systems; upgrading level 2, 3 never coded on intersectoral_upgrading among the cases used: "
    "the model has levels 0, 1 only, so no row for them; no case of this group is at level 1 on "
    "intersectoral_upgrading: its probability rests on the thresholds the groups share"
)


@pytest.mark.slow
def test_claims_grid_fits_a_reason_inside_its_cell():
    """The reason a cell cannot be tested is wrapped to the cell, as drawn (smaller type where it needs more than
    two lines), shortened with an ellipsis only where even that does not fit, and stays inside the cell; the
    complete-case count, no reason, is left to the table."""
    count = "; complete cases: 27 of 30 (3 with a variable not reported)"
    reasons = [
        "collective_efficiency constant in the group",
        "one case in this group; the ML fit did not converge: estimate unreliable; outcome constant in the group",
        LONG_REASON,
    ]
    for reason, size, whole in zip(reasons, [7, 6, 6], [True, True, False]):
        fig = plots.claims_grid(pd.DataFrame(_grid_rows(_untested_cell(reason + count))))
        ax = fig.axes[0]
        fig.draw_without_rendering()
        (said,) = [t for t in ax.texts if t.get_text().startswith("not estimable:")]
        lines = said.get_text().split("\n")
        assert said.get_fontsize() == size and len(lines) > 1 and (len(lines) <= 2) == (size == 7)
        written = " ".join(lines)
        assert (written == f"not estimable: {reason}") == whole
        assert whole or (written.endswith(marks.ELLIPSIS) and written[:-1] in f"not estimable: {reason}")
        assert _inside(said, _cell_of(ax, said).get_window_extent())
        plt.close(fig)


def test_claims_grid_writes_a_large_odds_ratio_compactly_inside_its_cell():
    """An odds ratio of thousands with an interval up to tens of millions (a separated fit on a small sheet) is
    written in three significant digits and wrapped inside its cell, clear of the row's label on its left."""
    row = _untested_cell("") | {
        "sectoral_group": "traditional_manufacturing",
        "fit": "jeffreys",
        "verdict": "consistent",
        "estimate": np.log(5957.15),
        "ci_low": np.log(13.95),
        "ci_high": np.log(24253801.91),
    }
    fig = plots.claims_grid(pd.DataFrame(_grid_rows(row)))
    ax = fig.axes[0]
    fig.draw_without_rendering()
    (odds,) = [t for t in ax.texts if t.get_text().startswith("OR 5")]
    assert " ".join(odds.get_text().split("\n")) == "OR 5.96e3 [13.95, 2.43e7] (Jeffreys)"
    assert _inside(odds, _cell_of(ax, odds).get_window_extent())
    plt.close(fig)


def _slopes(note_of_partial):
    """A `pooling.slopes_table` for GROUPS_PRESENT on one form: no, partial and complete pooling per group and
    predictor; the partial-pooling rows carry `note_of_partial` on complex product systems' leader-driven slope."""
    rows = []
    for predictor in ("collective_efficiency", "leader_driven"):
        for group in GROUPS_PRESENT:
            for method, fit in (
                ("no pooling", "ml"),
                ("partial pooling", "partial pooling"),
                ("complete pooling", "ml"),
            ):
                flagged = (predictor, group, method) == ("leader_driven", "complex_product_systems", "partial pooling")
                rows.append(
                    {
                        "form": "product_upgrading",
                        "predictor": predictor,
                        "sectoral_group": group,
                        "method": method,
                        "fit": fit,
                        "estimate": 0.5,
                        "conf_low": -1.0,
                        "conf_high": 2.0,
                        "note": note_of_partial if flagged else "",
                    }
                )
    return pd.DataFrame(rows)


def test_pooling_shrinkage_marks_slopes_the_groups_own_cases_cannot_identify():
    """A partially pooled slope whose note says the priors and the other groups set it (`pooling.unidentified_slope`)
    is drawn as a grey open diamond on a dotted interval, with a legend entry and a line of the title; a sheet
    without one keeps the three-entry legend."""
    fig = plots.pooling_shrinkage(_slopes(""))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(plots.POOLING_STYLE)
    plt.close(fig)
    note = (  # `pooling.unidentified_slope`'s words
        "every case of this group in the fit has leader_driven = 0: the slope does not enter its cases' likelihood, "
        "so its value is the priors' and the other groups', not the group's own"
    )
    fig = plots.pooling_shrinkage(_slopes(note))
    assert fig.legends[0].get_texts()[-1].get_text() == "partial pooling, not identified by the group's own cases"
    assert "grey open diamonds" in fig.get_suptitle()
    leader = fig.axes[1]
    marker, colour = plots.PRIOR_DRIVEN_STYLE
    (grey,) = [
        line for line in leader.lines if mcolors.same_color(line.get_color(), colour) and line.get_marker() == marker
    ]
    assert mcolors.same_color(grey.get_markerfacecolor(), "white") and list(grey.get_ydata()) == [1]  # cops' row
    (interval,) = [
        line for line in leader.lines if mcolors.same_color(line.get_color(), colour) and len(line.get_xdata()) == 2
    ]
    assert interval.get_linestyle() == ":"
    assert not [line for line in fig.axes[0].lines if mcolors.same_color(line.get_color(), colour)]


@pytest.mark.slow
def test_power_curves_plot_the_shares_and_mark_empty_panels():
    rows = []
    for n in (30, 60):
        for scale in (0.5, 1.0):
            rows.append(
                {
                    "scope": "pooled",
                    "kind": "positive",
                    "n_cases": n,
                    "effect_scale": scale,
                    "p_right": n / 100 * scale,
                    "mcse_right": 0.01,
                    "p_wrong": 0.02,
                }
            )
    fig = plots.power_curves(pd.DataFrame(rows))
    assert len(fig.axes) == 3 * 5
    pooled_positive = fig.axes[0]
    solid = [line for line in pooled_positive.lines if line.get_linestyle() == "-" and line.get_marker() == "o"]
    assert [list(line.get_ydata()) for line in solid] == [[0.15, 0.3], [0.3, 0.6]]
    empty = [ax for ax in fig.axes if any(t.get_text() == "no claim\nof this kind" for t in ax.texts)]
    assert len(empty) == 3 * 5 - 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "0.5 x documented",
        "1 x documented",
        "wrong verdict (dotted)",
    ]


@pytest.mark.parametrize("simulated", [True, False])
def test_saved_figures_carry_the_data_footer(tmp_path, simulated):
    cases = small_cases(simulated=simulated)
    fig = plots.governance_mix(descriptives.governance_by_group(cases))
    written = exhibits.save_figure(fig, "governance_test", directory=tmp_path, cases=cases)
    assert [w.rsplit(".", 1)[1] for w in written] == ["png", "pdf"]
    (footer,) = [t for t in fig.texts if "tests/small.csv" in t.get_text()]
    if simulated:
        assert footer.get_text().startswith("SIMULATED DATA") and mcolors.to_hex(footer.get_color()) == "#b2182b"
    else:
        assert footer.get_text().startswith("Coded data") and "SIMULATED" not in footer.get_text()


def test_codebook_groups_cover_the_small_sheet():
    # guards the fixture: if the codebook renames a group or industry, the hand counts above are void
    cb = codebook.load_codebook()
    for group, industry, *_ in ROWS:
        assert industry in cb.group(group).all_industries


@pytest.mark.slow
@pytest.mark.parametrize(("rows", "height"), [(2, 5.6), (4, 9.3)])
def test_heading_legend_and_panels_are_stacked_without_a_band_between_them(rows, height):
    from upgrading.study import plots_marks

    fig, axes = plt.subplots(rows, 4, figsize=(12, height))
    for ax in axes.flat:
        ax.plot([0, 1], [0, 1], label="line")
        ax.set_title("panel")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    plots_marks.heading_and_legend(fig, "first line\nsecond line", handles, labels, title="key", ncol=1)
    fig.draw_without_rendering()
    title = fig._suptitle.get_window_extent()
    key = fig.legends[0].get_window_extent()
    panels_top = max(ax.get_tightbbox().y1 for ax in axes.flat)
    assert panels_top < key.y0 < key.y1 < title.y0  # no overlap, in this order
    assert key.y0 - panels_top < 12 and title.y0 - key.y1 < 12  # pixels: no empty band
    plt.close(fig)
