"""An executed notebook as it is committed: what differs between two executions of one notebook on the same
inputs is removed (`normalise`), and the stderr rule is applied (`strip_stderr`): a committed notebook never
holds stderr, and a kernel's stderr line that no declared notice (`HARMLESS_STDERR`) covers fails the run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat

from ..errors import UpgradingError

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "name": "python",
    "pygments_lexer": "ipython3",
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "codemirror_mode": {"name": "ipython", "version": 3},
    "nbconvert_exporter": "python",
}
#: The only stderr lines a run may drop, each with its reason: notices about the machine's caches, which say
#: nothing about the analysis and appear or not depending on the machine's history. Every other stderr line
#: (a warning, a log line, a traceback) fails the run: fix its cause in the code, or add it here with a reason.
HARMLESS_STDERR = {
    # first import of matplotlib on a machine, after 5 s of building the font cache (a new home, a CI box)
    "matplotlib builds its font cache": re.compile(r"Matplotlib is building the font cache; this may take a moment\."),
    # the home or MPLCONFIGDIR is not writable (a locked-down CI runner), so the cache lives in a temp folder
    "matplotlib's cache folder is not writable": re.compile(
        r"Matplotlib created a temporary cache directory at \S+ because there was an issue with .*"
    ),
}


def injected_parameters_cell(cell) -> bool:
    """Whether a cell is the one papermill injects with the parameters a run was given."""
    return "injected-parameters" in cell.get("metadata", {}).get("tags", [])


#: The notebook parameters `upgrading run` sets from its options, with those options.
RUN_OPTIONS = {
    "coding_path": "--coding",
    "coding_sheet": "--sheet",
    "second_coder_path": "--second-coder",
    "second_coder_sheet": "--second-coder-sheet",
}


def injected_parameters(notebook: Path) -> dict:
    """The parameters a run injected into a notebook ({} where it ran on its declared defaults)."""
    found = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        if injected_parameters_cell(cell):
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def run_options(given: dict) -> list[str]:
    """The `upgrading run` options that give a notebook the parameters `given` (its injected ones)."""
    return [
        part
        for name, option in RUN_OPTIONS.items()
        if given.get(name) is not None
        for part in (option, str(given[name]))
    ]


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop everything that differs between two executions of the same notebook on the same inputs."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if not cell.metadata.get("tags", True):
            cell.metadata.pop("tags")
        if injected_parameters_cell(cell):
            cell.id = "injected-parameters"
        if "outputs" in cell:
            cell.outputs = coalesce_streams(cell.outputs)
    return nb


class StrayStderr(UpgradingError):
    """A kernel wrote to stderr something the declared rule (HARMLESS_STDERR) does not cover."""


def harmless_stderr_line(line: str) -> bool:
    return not line.strip() or any(p.fullmatch(line.strip()) for p in HARMLESS_STDERR.values())


def strip_stderr(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Apply the stderr rule: drop stderr outputs made only of HARMLESS_STDERR lines, fail on any other."""
    for number, cell in enumerate(nb.cells):
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                stray = [ln for ln in out.get("text", "").splitlines() if not harmless_stderr_line(ln)]
                if stray:
                    shown = "\n    ".join(stray[:5]) + ("\n    ..." if len(stray) > 5 else "")
                    raise StrayStderr(
                        f"notebook {name} wrote to stderr in cell {number}:\n    {shown}\n"
                        "A committed notebook never holds stderr (it depends on the machine and the run): fix "
                        "the cause (a warning is a bug to fix, not an output), or, for a known harmless notice, "
                        "add a pattern with its reason to HARMLESS_STDERR in upgrading/compendium/executed.py. "
                        "The committed notebook and its exhibits are unchanged."
                    )
                continue
            kept.append(out)
        if "outputs" in cell:
            cell.outputs = kept
    return nb


def coalesce_streams(outputs: list) -> list:
    """Merge consecutive stream outputs of the same stream into one.

    How a kernel's prints are cut into messages depends on when its output buffer is flushed, i.e. on timing
    (seen here: one rerun cut `wrote figures/...` before its newline). Merged, the text is the same on every run.
    """
    merged: list = []
    for out in outputs:
        previous = merged[-1] if merged else None
        if (
            out.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == out.get("name")
        ):
            previous["text"] = previous["text"] + out["text"]
        else:
            merged.append(out)
    return merged
