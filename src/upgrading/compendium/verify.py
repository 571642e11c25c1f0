"""Verification for referees: a manifest of every exhibit, written by `upgrading run`, never by hand.

`manifest.json` (repository root) records, for each exhibit a notebook wrote, its SHA-256, the notebook (both
from the exhibit registry, `data/exhibits.toml`), and the coding sheets it was made from: each sheet's path, the
worksheet read where it is a workbook (two worksheets of one workbook are two entries), and the file's SHA-256.
`verify()` checks the exhibits on disk against it and the registry and names every one that is missing, extra,
changed or undeclared, every coding sheet that changed since exhibits were made from it, and the codings where
the exhibits name more than one first (or second) coding (`codings`). `rerun.verify_rerun()` reruns the whole
pipeline in a temporary copy of the compendium and names every exhibit whose fresh bytes differ.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..errors import UpgradingError
from . import codings, registry

MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_path(root: Path | None = None) -> Path:
    return (root or paths.ROOT) / MANIFEST


def load_manifest(root: Path | None = None) -> dict:
    path = manifest_path(root)
    if not path.exists():
        return {"exhibits": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UpgradingError(
            f"{MANIFEST} is not valid JSON ({error}); restore it (`git checkout {MANIFEST}`), then rerun "
            "`upgrading run`"
        ) from None


SHEET_PARAMETERS = registry.SHEET_PARAMETERS
WORKSHEET_PARAMETERS = registry.WORKSHEET_PARAMETERS


def effective_parameters(notebook: Path, parameters: dict | None = None) -> dict:
    """The parameters a notebook ran with: those passed, else its declared defaults (literals only)."""
    import papermill

    values = {}
    for name, spec in papermill.inspect_notebook(str(notebook)).items():
        try:
            values[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            values[name] = spec["default"]  # an expression: its text
    return values | {k: v for k, v in (parameters or {}).items() if k in values}


def _sheets_of(notebook: Path, parameters: dict, names=SHEET_PARAMETERS) -> list[tuple[str, str | None]]:
    """The coding sheets a notebook ran on (of the sheet parameters `names`), each with the worksheet parameter
    given for it (None: a workbook's first): passed parameters, else its declared defaults (None = not used)."""
    values = effective_parameters(notebook, parameters)
    return [
        (str(values[name]), values.get(WORKSHEET_PARAMETERS[name]))
        for name in SHEET_PARAMETERS
        if name in names and values.get(name)
    ]


def _sheet_entries(sheets: list[tuple[str, str | None]]) -> list[dict]:
    """One manifest entry per sheet read: its path from the root, the file's SHA-256 (a workbook's is the whole
    file's) and, where a worksheet was read, its name, so that two worksheets of one workbook are two entries."""
    from ..study.sheets import worksheet_read

    entries = []
    for sheet, worksheet in sheets:
        path = paths.resolve(sheet)
        entry = {"path": paths.from_root(path), "sha256": sha256(path) if path.exists() else None}
        read = worksheet_read(path, worksheet)
        entries.append(entry | ({"worksheet": read} if read is not None else {}))
    return entries


def record(notebook: Path, parameters: dict | None = None) -> list[str]:
    """Replace the manifest entries of one notebook with its registered exhibits as they are now on disk;
    return those exhibits."""
    manifest = load_manifest()
    entries = {k: v for k, v in manifest.get("exhibits", {}).items() if v["notebook"] != notebook.name}
    declared = registry.load()
    exhibits = [e for e in declared.files(notebook.name) if (paths.ROOT / e).exists()]
    for exhibit in exhibits:
        names = declared.exhibit_of(exhibit).sheets
        sheets = _sheet_entries(_sheets_of(notebook, parameters or {}, SHEET_PARAMETERS if names is None else names))
        entries[exhibit] = {"sha256": sha256(paths.ROOT / exhibit), "notebook": notebook.name, "coding_sheets": sheets}
    text = (
        json.dumps(
            {"generated_by": "upgrading run", "exhibits": dict(sorted(entries.items()))}, indent=1, sort_keys=True
        )
        + "\n"
    )
    paths.write_output(manifest_path(), text)
    return exhibits


def coding_sheets(manifest: dict | None = None) -> list[dict]:
    """Every coding sheet the recorded exhibits were made from (path, worksheet where one was read, checksum at the
    time), once each, ordered by path and worksheet."""
    manifest = manifest if manifest is not None else load_manifest()
    found = {
        (s["path"], s.get("worksheet") or "", s["sha256"]): s
        for e in manifest.get("exhibits", {}).values()
        for s in e.get("coding_sheets", [])
    }
    return [found[key] for key in sorted(found, key=lambda k: (k[0], k[1], k[2] or ""))]


@dataclass
class Report:
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    stale_sheets: list[str] = field(default_factory=list)
    registry_problems: list[str] = field(default_factory=list)
    #: the exhibits name more than one first (or second) coding: one line per kind, with the runs that make it one
    codings: list[str] = field(default_factory=list)
    #: recorded coding sheets not found (a clone without a sheet kept beside the compendium): not a mismatch
    unchecked_sheets: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        problems = (self.missing, self.extra, self.changed, self.stale_sheets, self.registry_problems, self.codings)
        return not any(problems)

    def lines(self) -> list[str]:
        out = [f"missing: {p} (in the manifest, not on disk)" for p in self.missing]
        out += [f"extra: {p} (on disk, not in the manifest)" for p in self.extra]
        out += [f"changed: {p} (checksum differs from the manifest)" for p in self.changed]
        out += [f"stale: {p}" for p in self.stale_sheets]
        out += [f"registry: {p}" for p in self.registry_problems]
        out += [f"codings: {p}" for p in self.codings]
        return out


def verify(root: Path | None = None) -> Report:
    """Compare every file under figures/ with the manifest, and both with the exhibit registry."""
    root = root or paths.ROOT
    manifest = load_manifest(root).get("exhibits", {})
    if not manifest:
        raise UpgradingError(f"no exhibits recorded in {MANIFEST}; run `upgrading run` first")
    on_disk = {p.relative_to(root).as_posix() for p in (root / "figures").rglob("*") if p.is_file()}
    report = Report()
    for exhibit, entry in sorted(manifest.items()):
        path = root / exhibit
        if exhibit not in on_disk:
            report.missing.append(exhibit)
        elif sha256(path) != entry["sha256"]:
            report.changed.append(exhibit)
    report.extra = sorted(on_disk - set(manifest))
    owners = registry.load().owners()
    for exhibit in sorted(on_disk | set(manifest)):
        if exhibit not in owners:
            report.registry_problems.append(f"{exhibit} is not declared in {registry.REGISTRY_FILE}")
        elif exhibit in manifest and manifest[exhibit]["notebook"] != owners[exhibit]:
            report.registry_problems.append(
                f"{exhibit} is recorded as made by {manifest[exhibit]['notebook']}, but "
                f"{registry.REGISTRY_FILE} declares it for {owners[exhibit]}"
            )
    report.stale_sheets = stale_exhibits(manifest, root)
    report.codings = codings.mismatches(manifest)
    report.unchecked_sheets = unfound_sheets(manifest, root)
    return report


def unfound_sheets(manifest: dict, root: Path) -> list[str]:
    """One line per recorded coding sheet that is not where the manifest says: the exhibits made from it cannot be
    checked against it."""
    made_from: dict[str, set[str]] = {}  # a workbook recorded once per worksheet: each exhibit counted once
    for exhibit, entry in manifest.items():
        for sheet in entry.get("coding_sheets", []):
            made_from.setdefault(sheet["path"], set()).add(exhibit)
    return [
        f"{sheet} was not found, so the {len(exhibits)} exhibit{'s' * (len(exhibits) > 1)} made from it could not be "
        "checked against it"
        for sheet, exhibits in sorted(made_from.items())
        if not (root / sheet).is_file()
    ]


def stale_exhibits(manifest: dict, root: Path) -> list[str]:
    """Per coding sheet that changed since an exhibit was made from it (its checksum now differs from the one the
    manifest recorded for that exhibit): the exhibits it makes stale and the notebooks to rerun, one line each."""
    now: dict[str, str | None] = {}
    stale: dict[str, list[str]] = {}
    for exhibit, entry in sorted(manifest.items()):
        for sheet in entry.get("coding_sheets", []):
            if sheet["path"] not in now:
                path = root / sheet["path"]
                now[sheet["path"]] = sha256(path) if path.exists() else None
            made = stale.setdefault(sheet["path"], [])
            if now[sheet["path"]] not in (None, sheet["sha256"]) and exhibit not in made:  # a workbook: per worksheet
                made.append(exhibit)
    lines = []
    for sheet, exhibits in sorted((sheet, exhibits) for sheet, exhibits in stale.items() if exhibits):
        notebooks = sorted({manifest[e]["notebook"] for e in exhibits})
        lines.append(
            f"{sheet} changed since {len(exhibits)} exhibit{'s' if len(exhibits) > 1 else ''} were made from it "
            f"({', '.join(Path(e).name for e in exhibits)}); rerun {', '.join(notebooks)} "
            f"({_rerun_advice(notebooks, manifest)})"
        )
    return lines


def _rerun_advice(notebooks: list[str], manifest: dict) -> str:
    """The `upgrading run` command that reruns `notebooks` on the compendium's one coding (its first and, if any
    exhibit was made from one, its second), so that every exhibit stays made from the same codings; where the
    exhibits name more than one, rerunning some notebooks would keep them apart: the full runs that make them one."""
    found = codings.pairs(manifest)
    if len(found) > 1:
        runs = " or ".join(f"`{command}`" for command in codings.full_runs(manifest))
        return f"the exhibits were not all made from one coding: rerun every notebook on one, {runs}"
    options = codings.run_options(*found[0]) if found else []
    return shlex.join(["upgrading", "run", "--only", ",".join(n[:2] for n in notebooks), *options])
