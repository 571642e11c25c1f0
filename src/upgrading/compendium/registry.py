"""The exhibit registry (`data/exhibits.toml`): every exhibit declared once, with its notebook and caption.

Everything that needs to know which exhibits exist reads this: `save_table` / `save_figure` (which refuse an
undeclared name under `figures/`), the pipeline (which checks after each notebook that it wrote exactly its
declared exhibits), the manifest, `upgrading verify`, the HTML report and the README's list of exhibits.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from .. import package_data
from ..errors import UpgradingError

#: Where the registry lives, as a contributor finds it in the repository (for error messages).
REGISTRY_FILE = "src/upgrading/data/exhibits.toml"
#: Each kind of exhibit: its files' suffixes, and the caption of the second file (the first has the exhibit's).
KINDS: dict[str, tuple[tuple[str, str], str]] = {
    "table": (("csv", "md"), "The same, rendered as a Markdown table."),
    "figure": (("png", "pdf"), "The same figure, vector."),
}
FIELDS = {"name", "kind", "notebook", "caption", "requires", "sheets"}
#: The notebook parameters that name coding sheets (what an exhibit's `sheets` may list).
SHEET_PARAMETERS = ("coding_path", "second_coder_path")
#: The notebook parameter naming the worksheet read of each sheet parameter's workbook (None: its first).
WORKSHEET_PARAMETERS = {"coding_path": "coding_sheet", "second_coder_path": "second_coder_sheet"}


@dataclass(frozen=True)
class Exhibit:
    name: str
    kind: str
    notebook: str
    caption: str
    requires: str | None = None  # a notebook parameter; when it is empty the exhibit is not written
    #: the notebook parameters naming the coding sheets the exhibit is made from (None: every sheet the notebook
    #: reads); the manifest records those sheets for it
    sheets: tuple[str, ...] | None = None

    @property
    def files(self) -> tuple[str, ...]:
        """The exhibit's files, repository-relative (`figures/<name>.<suffix>`)."""
        return tuple(f"figures/{self.name}.{suffix}" for suffix in KINDS[self.kind][0])

    def rows(self) -> list[tuple[str, str, str]]:
        """(file, notebook, caption) of each of the exhibit's files, as the README lists them."""
        captions = (self.caption, KINDS[self.kind][1])
        return [(file, self.notebook, caption) for file, caption in zip(self.files, captions)]

    def expected(self, parameters: Mapping[str, object]) -> bool:
        """Does a run with these notebook parameters write this exhibit?"""
        return self.requires is None or bool(parameters.get(self.requires))


@dataclass(frozen=True)
class Registry:
    exhibits: tuple[Exhibit, ...]
    #: notebooks started before the others when notebooks run side by side (`[run] start_first`)
    start_first: tuple[str, ...] = ()

    def rows(self) -> list[tuple[str, str, str]]:
        """(file, notebook, caption) of every registered file, in registry order."""
        return [row for exhibit in self.exhibits for row in exhibit.rows()]

    def files(self, notebook: str | None = None, parameters: Mapping[str, object] | None = None) -> list[str]:
        """Registered files (of one notebook; only those a run with `parameters` writes, if given)."""
        return [
            file
            for exhibit in self.exhibits
            if notebook is None or exhibit.notebook == notebook
            if parameters is None or exhibit.expected(parameters)
            for file in exhibit.files
        ]

    def exhibit_of(self, file: str) -> Exhibit:
        """The registered exhibit one of whose files is `file` (repository-relative)."""
        return next(e for e in self.exhibits if file in e.files)

    def owners(self) -> dict[str, str]:
        """{file: the notebook that writes it} for every registered file."""
        return {file: notebook for file, notebook, _ in self.rows()}

    def captions(self) -> dict[str, str]:
        return {file: caption for file, _, caption in self.rows()}

    def get(self, name: str, kind: str) -> Exhibit:
        """The registered exhibit `name` of this kind; an error naming the registry file if there is none."""
        for exhibit in self.exhibits:
            if exhibit.name == name and exhibit.kind == kind:
                return exhibit
        known = sorted({e.name for e in self.exhibits if e.kind == kind})
        raise UpgradingError(
            f"{kind} {name!r} is not a registered exhibit: declare it in {REGISTRY_FILE} (name, kind, notebook, "
            f"caption) and list it in the README's exhibit table before writing it to figures/. "
            f"Registered {kind}s: {', '.join(known) or 'none'}"
        )

    def markdown_table(self) -> str:
        """The README's exhibit table, rendered from the registry."""
        lines = ["| exhibit | notebook | content |", "|---|---|---|"]
        lines += [f"| `{file}` | `{notebook}` | {caption} |" for file, notebook, caption in self.rows()]
        return "\n".join(lines) + "\n"

    def check_run(
        self, notebook: str, parameters: Mapping[str, object], before: Mapping[str, bytes], after: Mapping[str, bytes]
    ) -> list[str]:
        """Problems with what one notebook run did under figures/, one sentence each (empty: none).

        `before` and `after` map each file under figures/ (repository-relative) to its bytes, before and after
        the run. The notebook must leave every exhibit declared for it (given its parameters) in place, must not
        create, change or delete another notebook's exhibit, and must leave no undeclared file behind.
        """
        owners = self.owners()
        problems = [
            f"{notebook} did not write {file}, which {REGISTRY_FILE} declares for it"
            for file in self.files(notebook, parameters)
            if file not in after
        ]
        touched = sorted(f for f in before.keys() | after.keys() if before.get(f) != after.get(f))
        problems += [
            f"{notebook} wrote {file}, which {REGISTRY_FILE} declares for {owners[file]}"
            for file in touched
            if owners.get(file, notebook) != notebook
        ]
        problems += [
            f"{notebook} wrote {file}, which is not declared in {REGISTRY_FILE}"
            for file in sorted(after.keys() - before.keys())
            if file not in owners
        ]
        return problems


def parse(text: str) -> Registry:
    """A registry from the text of an exhibits.toml, checked: known kinds and fields, no file declared twice."""
    data = tomllib.loads(text)
    problems, exhibits = [], []
    for k, entry in enumerate(data.get("exhibit", [])):
        label = entry.get("name", f"entry {k + 1}")
        missing = sorted({"name", "kind", "notebook", "caption"} - entry.keys())
        unknown = sorted(entry.keys() - FIELDS)
        if missing or unknown:
            problems.append(
                f"{label}: "
                + "; ".join(
                    ([f"missing {', '.join(missing)}"] if missing else [])
                    + ([f"unknown {', '.join(unknown)}"] if unknown else [])
                )
            )
            continue
        if entry["kind"] not in KINDS:
            problems.append(f"{label}: kind {entry['kind']!r} is not one of {', '.join(KINDS)}")
            continue
        if "/" in entry["name"] or "." in entry["name"]:
            problems.append(f"{label}: name must be a bare stem (no folder, no suffix)")
            continue
        if "sheets" in entry:
            sheets = entry["sheets"]
            if not isinstance(sheets, list) or not set(sheets) <= set(SHEET_PARAMETERS):
                problems.append(f"{label}: sheets must be a list of {', '.join(SHEET_PARAMETERS)}; got {sheets!r}")
                continue
            entry = entry | {"sheets": tuple(sheets)}
        exhibits.append(Exhibit(**entry))
    seen: dict[str, str] = {}
    for exhibit in exhibits:
        for file in exhibit.files:
            if file in seen:
                problems.append(
                    f"{file} is declared twice ({seen[file]} and {exhibit.notebook}); each exhibit "
                    "comes from exactly one notebook"
                )
            seen[file] = exhibit.notebook
    run = data.get("run", {})
    if not isinstance(run, dict):
        problems.append(f"[run] must be a table; got {run!r}")
        run = {}
    start_first = run.get("start_first", [])
    notebooks = {exhibit.notebook for exhibit in exhibits}
    names = isinstance(start_first, list) and all(isinstance(name, str) for name in start_first)
    if not names or not set(start_first) <= notebooks:
        problems.append(f"[run] start_first must list notebooks that write exhibits; got {start_first!r}")
        start_first = []
    elif len(set(start_first)) < len(start_first):  # a name twice would start that notebook twice, side by side
        problems.append(f"[run] start_first must name each notebook once; got {start_first!r}")
    unknown_run = sorted(run.keys() - {"start_first"})
    if unknown_run:
        problems.append(f"[run]: unknown {', '.join(unknown_run)}")
    if problems:
        raise UpgradingError(f"{REGISTRY_FILE} is inconsistent:\n  " + "\n  ".join(problems))
    return Registry(tuple(exhibits), tuple(start_first))


@cache
def load() -> Registry:
    """The compendium's exhibit registry (package data)."""
    return parse(package_data.text("exhibits.toml"))
