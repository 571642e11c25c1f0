"""Writing exhibits (tables and figures) under `figures/`, byte for byte the same on every run.

Tables are written twice: CSV for machines and Markdown for readers (the forge renders it). Figures are
written as PNG (for the notebook and the forge) and PDF (for papers), with the metadata that would change
between runs or library versions removed. Every write prints the repository-relative path, so a committed
notebook shows which exhibits it makes. Only exhibits declared in the registry (`data/exhibits.toml`, see
`registry`) may be written into the compendium's `figures/`; other folders (scratch, tests) take any name.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pandas as pd

from .. import paths
from . import registry

#: Figure formats and the savefig metadata that keeps each byte-identical across runs and versions.
FIGURE_FORMATS = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


def use_deterministic_style() -> None:
    """Fix the matplotlib settings that otherwise vary between runs (hash salts, fonts) and set the house style."""
    matplotlib.rcParams.update(
        {
            "svg.hashsalt": "upgrading",
            "pdf.fonttype": 42,
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "font.family": "DejaVu Sans",
        }
    )


def _target(name: str, suffix: str, directory: str | Path | None) -> Path:
    if "/" in name or "." in name:
        raise ValueError(f"exhibit name {name!r} must be a bare stem like 'codebook' (no folder, no suffix)")
    folder = paths.resolve(directory) if directory is not None else paths.FIGURES
    if paths.under_raw(folder):
        raise ValueError("exhibits are never written under data/raw/: raw data are immutable")
    return folder / f"{name}.{suffix}"


def _check_registered(name: str, kind: str, directory: str | Path | None) -> None:
    folder = paths.resolve(directory) if directory is not None else paths.FIGURES
    if folder.resolve() == paths.FIGURES.resolve():
        registry.load().get(name, kind)  # raises, naming the registry file, if the exhibit is not declared


def data_kind(*sheets: pd.DataFrame | None) -> str:
    """'simulated' if any of the sheets a table is made from is simulated, else 'coded' (a table's `data` column)."""
    return "simulated" if any(s is not None and _data_label(s)[0] == "simulated" for s in sheets) else "coded"


def _data_label(cases: pd.DataFrame | None, second_coding: pd.DataFrame | None = None) -> tuple[str, str]:
    """('simulated' or 'coded', one-line provenance) for exhibits made from a set of cases (and, for exhibits that
    compare two codings, the second coding: both are named, each with its file and worksheet)."""
    from ..study.coding import is_simulated, provenance

    if cases is None:
        raise ValueError("second_coding= names the coding compared with cases=; pass both")
    codings = [c for c in (cases, second_coding) if c is not None]
    simulated = any(c.attrs.get("simulated", is_simulated(c)) for c in codings)
    return ("simulated" if simulated else "coded"), provenance(cases, second_coding)


def save_table(
    df: pd.DataFrame,
    name: str,
    *,
    title: str,
    notes: str = "",
    directory: str | Path | None = None,
    float_format: str = "%.6g",
    cases: pd.DataFrame | None = None,
    simulated: str | None = None,
    second_coding: pd.DataFrame | None = None,
) -> list[str]:
    """Write `df` as `<name>.csv` and `<name>.md` (with a title and notes); return the relative paths.

    With `cases` (the data the table is made from), the CSV gains a first column `data` ('simulated' or
    'coded') and the Markdown opens with the data's provenance, so a simulated exhibit always says so; with
    `second_coding` too (an exhibit comparing two codings, as reliability does), the provenance names both codings
    and the table is 'simulated' if either is. `simulated` does the same for exhibits that are simulated by design
    (the power study): its text is the banner. Into `figures/`, `name` must be a table declared in the exhibit registry.
    """
    _check_registered(name, "table", directory)
    csv_path = _target(name, "csv", directory)
    md_path = _target(name, "md", directory)
    banner = ""
    if cases is not None or second_coding is not None or simulated:
        label, banner = ("simulated", simulated) if simulated else _data_label(cases, second_coding)
        df = df.copy()
        df.insert(0, "data", label)
    csv = df.to_csv(index=False, lineterminator="\n", float_format=float_format)
    # a cell with no value is empty in the Markdown, as in the CSV (tabulate prints NaN as "nan", pd.NA as "<NA>")
    shown = df.astype(object).where(df.notna(), None)
    body = shown.to_markdown(index=False, floatfmt=float_format.strip("%"), missingval="")
    md = (
        f"# {title}\n\n"
        + (f"**{banner}**\n\n" if banner else "")
        + (f"{notes.strip()}\n\n" if notes.strip() else "")
        + body
        + "\n"
    )
    written = []
    for path, text in ((csv_path, csv), (md_path, md)):
        paths.write_output(path, text)
        written.append(paths.relative(path))
        print(f"wrote {paths.relative(path)}")
    return written


def label_figure(
    fig, cases: pd.DataFrame | None, simulated: str | None = None, *, second_coding: pd.DataFrame | None = None
) -> None:
    """Print the data's provenance at the foot of a figure (in red when the data are simulated); with
    `second_coding` (a figure comparing two codings), both codings are named."""
    import textwrap

    label, banner = ("simulated", simulated) if simulated else _data_label(cases, second_coding)
    fig.text(
        0.01,
        -0.01,
        textwrap.fill(banner, 150),
        ha="left",
        va="top",
        fontsize=7,
        color="#b2182b" if label == "simulated" else "#333333",
    )


class SavedFigure(list):
    """The files a figure was written to (a list of their paths); shown in a notebook as the PNG written, so the
    figure is drawn once for the file, not again for the notebook."""

    def __init__(self, written: list[str], png: bytes):
        super().__init__(written)
        self.png = png

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return f"<figure {', '.join(self)}>"


def save_figure(
    fig,
    name: str,
    *,
    directory: str | Path | None = None,
    cases: pd.DataFrame | None = None,
    simulated: str | None = None,
    second_coding: pd.DataFrame | None = None,
) -> SavedFigure:
    """Write a matplotlib figure as `<name>.png` and `<name>.pdf`, byte-deterministically, and close it.

    With `cases` (and `second_coding`), the figure is first labelled with the data's provenance (see
    `label_figure`). Into
    `figures/`, `name` must be a figure declared in the exhibit registry. Returns the written paths, which a
    notebook displays as the written PNG (`display(save_figure(...))`).
    """
    import io

    import matplotlib.pyplot as plt

    _check_registered(name, "figure", directory)
    if cases is not None or second_coding is not None or simulated:
        label_figure(fig, cases, simulated, second_coding=second_coding)
    written, files = [], {}
    for fmt, metadata in FIGURE_FORMATS.items():
        path = _target(name, fmt, directory)
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=metadata)
        files[fmt] = buffer.getvalue()
        paths.write_output(path, files[fmt])
        written.append(paths.relative(path))
        print(f"wrote {paths.relative(path)}")
    plt.close(fig)
    return SavedFigure(written, files["png"])


def remove_exhibits(name: str, *, directory=None) -> list[str]:
    """Delete every file of an exhibit (all suffixes), e.g. when its input is absent, so none goes stale."""
    folder = paths.resolve(directory) if directory is not None else paths.FIGURES
    removed = []
    for path in sorted(folder.glob(f"{name}.*")):
        path.unlink()
        removed.append(paths.relative(path))
        print(f"removed {paths.relative(path)}")
    return removed
