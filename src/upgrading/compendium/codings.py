"""The codings the exhibits were made from, read from the manifest: one compendium, one first coding.

An exhibit's manifest entry lists the coding sheets it was made from in the order of the notebook parameters that
name them (`registry.SHEET_PARAMETERS`: `coding_path`, the first coding, then `second_coder_path`, the second),
keeping those its registry entry reads (`sheets`; by default every sheet its notebook reads) that the run gave a
value. So an exhibit that reads `coding_path` names its first coding first; one declared `sheets = []` (the design
analysis's power table and curves, simulated by design) names none and is exempt. A coding is a sheet's path, the
worksheet read (a workbook's) and the file's checksum: two worksheets of one workbook are two codings (a first and a
second, not two first codings), and so is one sheet before and after an edit.

The exhibits of a compendium must name one first coding, and those made from a second coding one second coding:
`mismatches` names each coding with the notebooks that used it, and `full_runs` the commands (one per first
coding) that rerun every notebook on one of them.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from functools import cache

from . import registry

#: path, worksheet (None: a CSV), SHA-256 of the file
Coding = tuple[str, str | None, str | None]
ROLES = {"coding_path": "first coding", "second_coder_path": "second coding"}


def _coding(sheet: Mapping) -> Coding:
    return sheet["path"], sheet.get("worksheet"), sheet.get("sha256")


@cache
def _declares(notebook: str, parameter: str) -> bool:
    """Whether the notebook (a file name under notebooks/) declares the parameter (False where it is missing)."""
    import papermill

    from .. import paths

    path = paths.NOTEBOOKS / notebook
    return path.is_file() and parameter in papermill.inspect_notebook(str(path))


def exhibit_codings(manifest: Mapping[str, Mapping]) -> dict[str, dict[str, Coding | None]]:
    """{exhibit: {sheet parameter: the coding recorded for it}} of every registered exhibit in the manifest's
    `exhibits` (an exhibit made from no sheet maps to {}). An exhibit that can be made from a second coding (its
    notebook declares `second_coder_path` and its registry entry reads it) but records none maps that parameter to
    None, "no second coding": a notebook run without one beside another run with one is two codings too."""
    declared = registry.load()
    known = {file for exhibit in declared.exhibits for file in exhibit.files}
    found = {}
    for exhibit, entry in sorted(manifest.items()):
        if exhibit in known:  # an unregistered one is the registry check's to name
            names = declared.exhibit_of(exhibit).sheets
            roles = [n for n in registry.SHEET_PARAMETERS if names is None or n in names]
            codings: dict[str, Coding | None] = dict(zip(roles, map(_coding, entry.get("coding_sheets", []))))
            second = "second_coder_path"
            if "coding_path" in codings and second in roles and second not in codings:
                if _declares(entry["notebook"], second):
                    codings[second] = None
            found[exhibit] = codings
    return found


def used(manifest: Mapping[str, Mapping], role: str) -> dict[Coding | None, list[str]]:
    """{coding (None: none): the exhibits made from it} for one sheet parameter, the coding of the lowest-numbered
    notebook first."""
    found: dict[Coding | None, list[str]] = {}
    for exhibit, codings in exhibit_codings(manifest).items():
        if role in codings:
            found.setdefault(codings[role], []).append(exhibit)
    return dict(
        sorted(found.items(), key=lambda item: (min(manifest[e]["notebook"] for e in item[1]), (item[0] or ("",))[0]))
    )


def describe(coding: Coding | None) -> str:
    if coding is None:
        return "no second coding"
    path, worksheet, digest = coding
    return f"{path}" + (f", worksheet '{worksheet}'" if worksheet else "") + f" (SHA-256 {(digest or '?')[:12]}...)"


def _by_notebook(manifest: Mapping[str, Mapping], exhibits: list[str]) -> str:
    counts: dict[str, int] = {}
    for exhibit in exhibits:
        counts[manifest[exhibit]["notebook"]] = counts.get(manifest[exhibit]["notebook"], 0) + 1
    return ", ".join(f"{notebook} ({n} exhibit{'s' * (n > 1)})" for notebook, n in sorted(counts.items()))


def run_options(first: Coding, second: Coding | None) -> list[str]:
    """The `upgrading run` options that run every notebook on these codings: none for the simulated sheets, which
    the notebooks declare as their defaults."""
    from .. import paths
    from ..study import simulate

    raw = paths.FOLDERS["DATA_RAW"]
    defaults = ((f"{raw}/{simulate.FIRST_CODER_FILE}", None), (f"{raw}/{simulate.SECOND_CODER_FILE}", None))
    if second is not None and (first[:2], second[:2]) == defaults:
        return []
    options = ["--coding", first[0], *(["--sheet", first[1]] if first[1] else [])]
    if second is not None:
        options += ["--second-coder", second[0], *(["--second-coder-sheet", second[1]] if second[1] else [])]
    return options


def pairs(manifest: Mapping[str, Mapping]) -> list[tuple[Coding, Coding | None]]:
    """(first coding, the second coding of the exhibits made from it, or None) for each first coding and each
    second coding recorded with it, in the order of `used`."""
    by_exhibit, order = exhibit_codings(manifest), list(used(manifest, "second_coder_path"))
    found = []
    for first, exhibits in used(manifest, "coding_path").items():
        seconds = {by_exhibit[e]["second_coder_path"] for e in exhibits if "second_coder_path" in by_exhibit[e]}
        found += [(first, second) for second in sorted(seconds, key=order.index) or [None]]
    return found


def full_runs(manifest: Mapping[str, Mapping]) -> list[str]:
    """The commands that each rerun every notebook on one pair of codings the exhibits were made from, once each (one
    sheet recorded before and after an edit is one command: the run reads it as it is now)."""
    return list(dict.fromkeys(shlex.join(["upgrading", "run", *run_options(*pair)]) for pair in pairs(manifest)))


def mismatches(manifest: Mapping[str, Mapping]) -> list[str]:
    """One line per sheet parameter whose exhibits name more than one coding: each coding with the notebooks (and
    their numbers of exhibits) made from it, and the full runs that make them one (empty: one coding each)."""
    lines = []
    for role, label in ROLES.items():
        found = used(manifest, role)
        if len(found) > 1:
            made = "; ".join(f"{describe(c)} by {_by_notebook(manifest, e)}" for c, e in found.items())
            lines.append(
                f"the exhibits were made from {len(found)} different {label}s: {made}. Rerun every notebook on one "
                f"coding: {' or '.join(f'`{command}`' for command in full_runs(manifest))}"
            )
    return lines
