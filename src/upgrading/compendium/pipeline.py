"""Run the numbered notebooks in order with papermill, reproducibly.

Each notebook executes into a temporary file. Only on success is the volatile metadata removed (papermill
timings and paths, nbclient timestamps, the random id of the injected-parameters cell, the interpreter's
patch version) and the result written over the committed notebook, so two runs are byte-identical. On failure
the committed notebook is untouched and any exhibit the notebook had already rewritten is restored.

No machine state reaches a committed output. What could (and how it is kept out):

- the kernel's environment: hash seed, time zone, text encoding, BLAS/OpenMP thread counts and dates are
  fixed by `kernel_environment()`, whatever the caller's locale, `TZ`, `PYTHONHASHSEED` or number of cores;
- how the kernel's output happens to be chunked: ipykernel flushes stdout every 0.2 s, so a slow step (a
  first import compiling bytecode on a new machine, a loaded CPU) splits one cell's printed text into several
  stream outputs. `executed.normalise()` joins consecutive stream outputs of one stream, as every frontend shows them;
- stderr (the declared rule): a committed notebook never holds stderr. What a kernel writes there (warnings,
  first-run notices, log lines) depends on the machine, its caches and the run. A stderr output whose every
  line matches one of `HARMLESS_STDERR` (known first-run and machine notices, listed with their reason) is
  removed; any other stderr fails the run, naming the notebook and cell, and changes nothing;
- paths, dates and library versions in exhibits: see `paths.relative()` and `exhibits`.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import nbformat

from .. import paths
from ..errors import UpgradingError
from ..study import settings
from .executed import StrayStderr, injected_parameters_cell, normalise, strip_stderr
from .kernels import kernel_environment, kernel_manager, kill_kernel

NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
#: Folders a notebook may write (repository-relative); snapshotted before each notebook and restored if it fails.
OUTPUT_DIRS = (paths.FOLDERS["FIGURES"], paths.FOLDERS["DATA_PROCESSED"])


@dataclass
class NotebookResult:
    notebook: str
    seconds: float
    exhibits: list[str] = field(default_factory=list)

    def summary(self) -> str:
        shown = ", ".join(Path(e).name for e in self.exhibits) or "none"
        return f"{self.notebook}: {self.seconds:.1f} s, {len(self.exhibits)} exhibits ({shown})"


def discover(notebooks_dir: Path | None = None) -> list[Path]:
    """The numbered notebooks `NN_name.ipynb` (of `notebooks/`, or `notebooks_dir`), in number order; two with one
    number is an error."""
    notebooks_dir = paths.NOTEBOOKS if notebooks_dir is None else notebooks_dir
    found = sorted(p for p in notebooks_dir.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    numbers = [NOTEBOOK_PATTERN.match(p.name).group(1) for p in found]
    clashes = sorted({n for n in numbers if numbers.count(n) > 1})
    if clashes:
        raise UpgradingError(
            f"more than one notebook is numbered {', '.join(clashes)} in notebooks/; "
            "each number must be unique so the run order is defined"
        )
    return found


def select(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """The notebooks whose number (`01`, `1`) or name matches an entry of `only`; all when `only` is empty."""
    if not only:
        return notebooks
    chosen, unknown = [], []
    for key in only:
        key = key.strip()
        hits = [
            p for p in notebooks if p.stem == key or p.name == key or (key.isdigit() and int(key) == int(p.name[:2]))
        ]
        (chosen.extend if hits else unknown.append)(hits or key)
    if unknown:
        listing = ", ".join(p.name for p in notebooks) or "none"
        raise UpgradingError(f"no notebook matches {', '.join(map(repr, unknown))}; the notebooks are: {listing}")
    return sorted(set(chosen))


def _snapshot() -> dict[Path, bytes]:
    folders = [paths.root() / folder for folder in OUTPUT_DIRS]
    files = (p for d in folders if d.exists() for p in d.rglob("*") if not paths.is_partial(p))
    return {p: data for p in files if (data := _bytes(p)) is not None}


def _bytes(path: Path) -> bytes | None:
    """A file's bytes, or None where it is not a file (any more: a notebook run beside may have just replaced it)."""
    try:
        return path.read_bytes() if path.is_file() else None
    except FileNotFoundError:
        return None


def _figures(snapshot: dict[Path, bytes], leave_out: frozenset[Path] = frozenset()) -> dict[str, bytes]:
    """The files of a snapshot under figures/, by repository-relative path (without those in `leave_out`)."""
    figures = paths.FIGURES
    return {paths.relative(p): data for p, data in snapshot.items() if p.is_relative_to(figures) and p not in leave_out}


def _restore(before: dict[Path, bytes], leave_out: frozenset[Path] = frozenset()) -> None:
    """Put the output folders back as they were in `before`, except the files in `leave_out` (the exhibits of
    notebooks that ran at the same time, which are theirs to keep or restore)."""
    now = _snapshot()
    for p in now.keys() - before.keys() - leave_out:
        p.unlink(missing_ok=True)
    for p, data in before.items():
        if p not in leave_out and now.get(p) != data:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)


def _failure_message(notebook: Path, error: Exception) -> str:
    import papermill.exceptions as pm_exc
    from jupyter_client.kernelspec import NoSuchKernel

    name = notebook.name
    if isinstance(error, pm_exc.PapermillExecutionError):
        return (
            f"notebook {name} failed in cell {error.cell_index} (execution count {error.exec_count}): "
            f"{error.ename}: {error.evalue}. The committed notebook and its exhibits are unchanged. "
            "Rerun with --debug to see the traceback."
        )
    if isinstance(error, NoSuchKernel):
        from jupyter_client.kernelspec import KernelSpecManager

        available = ", ".join(sorted(KernelSpecManager().find_kernel_specs())) or "none"
        return (
            f"notebook {name} could not start: there is no Jupyter kernel named {error.name!r} "
            f"(available: {available}). Install the compendium's environment with the README's setup "
            "line, or pass --kernel NAME. Nothing was changed."
        )
    return (
        f"notebook {name} could not run: {type(error).__name__}: {error}. "
        "Nothing was changed. Rerun with --debug to see the traceback."
    )


def _declared(notebook: Path, parameters: dict | None) -> dict:
    """The parameters the notebook declares (papermill passes no others)."""
    import papermill

    try:
        declared = papermill.inspect_notebook(str(notebook))
    except Exception as error:  # not JSON, not a notebook, an unparsable parameters cell: nothing has run
        raise UpgradingError(
            f"{paths.relative(notebook)} cannot be read as a notebook ({type(error).__name__}: {error}); "
            "expected a Jupyter notebook (nbformat 4 JSON); nothing was run for it"
        ) from None
    return {k: v for k, v in (parameters or {}).items() if k in declared}


def _kernel_run(
    notebook: Path, parameters: dict, kernel: str | None, started: _Started, at_once: int = 1
) -> nbformat.NotebookNode:
    """Execute a notebook into a temporary file and return it normalised, with the stderr rule applied; the
    committed notebook is not touched. Runs in a worker thread when notebooks run side by side (up to `at_once`
    of them while it runs: the kernel is told the joblib workers that leaves it, `settings.workers_beside`). The
    kernel lists the files it writes in `started`'s journal, and is handed to `started` once running (so it can be
    stopped)."""
    import papermill

    env = {**os.environ, **kernel_environment(), paths.WRITE_JOURNAL: str(started.journal)}
    env[settings.NOTEBOOK_WORKERS_VARIABLE] = str(settings.workers_beside(at_once))

    with tempfile.TemporaryDirectory(prefix="upgrading-run-") as tmp:
        source, out = Path(tmp) / f"source_{notebook.name}", Path(tmp) / notebook.name
        nbformat.write(_without_injected_parameters(notebook), source)
        papermill.execute_notebook(
            str(source),
            str(out),
            parameters=parameters,
            kernel_name=kernel or "python3",
            progress_bar=False,
            log_output=False,
            record_timing=False,
            # ipykernel warns on every start that loopback TCP is unencrypted; errors still show.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            kernel_manager_class=kernel_manager(env, cwd=notebook.parent, on_start=started.kernel_started),
        )
        return normalise(strip_stderr(nbformat.read(out, as_version=4), notebook.name))


def _without_injected_parameters(notebook: Path) -> nbformat.NotebookNode:
    """The notebook without the parameters an earlier run injected (`upgrading run --coding ...` leaves them in
    the notebook it writes): papermill replaces that cell only when given parameters, so a run without them would
    otherwise run on the earlier run's sheet while the manifest records the declared defaults."""
    source = nbformat.read(notebook, as_version=4)
    source.cells = [cell for cell in source.cells if not injected_parameters_cell(cell)]
    return source


@dataclass
class _Started:
    """A notebook being run: its output folders as they were when it started, the notebooks that ran at some time
    while it did (`beside`), its start time, the journal its kernel lists written files in, and its kernel."""

    notebook: Path
    before: dict[Path, bytes]
    beside: set[str]
    start: float
    journal: Path
    kernels: list = field(default_factory=list)
    stopped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def now(cls, notebook: Path, beside: set[str]) -> _Started:
        before = _snapshot()  # (first: a journal is made only once nothing can stop its notebook being listed)
        handle, journal = tempfile.mkstemp(prefix="upgrading-writes-", suffix=".txt")
        os.close(handle)
        return cls(notebook, before, set(beside), time.perf_counter(), Path(journal))

    def kernel_started(self, manager) -> None:
        with self.lock:
            self.kernels.append(manager)
            if self.stopped:
                kill_kernel(manager)

    def stop(self) -> None:
        """Kill this notebook's kernel (now, or as soon as it starts): its run then ends with an error."""
        with self.lock:
            self.stopped = True
            for manager in self.kernels:
                kill_kernel(manager)

    def written(self) -> set[Path]:
        """The files this notebook's kernel wrote through `paths.write_output` (resolved)."""
        return paths.journalled(self.journal)

    def others_files(self, beside: set[str] | None = None) -> frozenset[Path]:
        """What a notebook run beside others (`beside`: by default, all that ran while it did) leaves alone: their
        registered exhibits, and the outputs outside figures/ that its own kernel did not write, so a failure never
        undoes a neighbour's output."""
        beside = self.beside if beside is None else beside
        if not beside:
            return frozenset()
        from . import registry

        owners = registry.load().owners()
        exhibits = {paths.root() / file for file, owner in owners.items() if owner in beside}
        # outputs outside figures/ (data/processed/cases.csv, notebook 02's) are registered nowhere: the journal
        # tells which this notebook wrote (restored on failure); the others may be a neighbour's, left alone (an
        # undeclared file under figures/ is still checked and undone)
        figures, own = paths.FIGURES, self.written()
        unregistered = {
            p
            for p in self.before.keys() | _snapshot().keys()
            if not p.is_relative_to(figures) and p.resolve() not in own
        }
        return frozenset(exhibits | unregistered)


def _finish(started: _Started, outcome, parameters: dict, debug: bool, on_written=lambda: None) -> NotebookResult:
    """Check and write one executed notebook (`outcome()` gives it, or raises the run's error; it has already
    ended, so its kernel's journal is complete, or runs in this thread); on any failure restore this notebook's
    outputs and raise UpgradingError (with `debug`, the original error). The journal is the caller's to delete:
    a run stopped while this writes still needs it to undo the notebook."""
    notebook, others = started.notebook, started.others_files()
    try:
        nb = outcome()
    except StrayStderr:
        _restore(started.before, others)
        raise
    except Exception as error:  # every failure is reported the same way, after restoring outputs
        _restore(started.before, others)
        if debug:
            raise
        raise UpgradingError(_failure_message(notebook, error)) from None
    exhibits: list[str] = []
    if notebook.parent.resolve() == paths.NOTEBOOKS.resolve():
        from . import registry, verify

        problems = registry.load().check_run(
            notebook.name,
            verify.effective_parameters(notebook, parameters),
            _figures(started.before, others),
            _figures(_snapshot(), others),
        )
        if problems:
            _restore(started.before, others)
            beside = f" (run beside {', '.join(sorted(started.beside))})" if started.beside else ""
            raise UpgradingError(
                "; ".join(problems) + f"{beside}. Declare every exhibit once in {registry.REGISTRY_FILE}. "
                "The committed notebook and its exhibits are unchanged."
            )
        with _interrupt_deferred():  # written, entered and no longer to undo: all three, or none
            try:
                exhibits = _write_with_entry(nb, notebook, lambda: verify.record(notebook, parameters))
            except BaseException:  # the notebook and manifest are back: its exhibits too
                _restore(started.before, others)
                raise
            on_written()
    else:
        with _interrupt_deferred():
            nbformat.write(nb, notebook)
            on_written()
    return NotebookResult(notebook.name, time.perf_counter() - started.start, exhibits)


@contextmanager
def _interrupt_deferred():
    """Hold a Ctrl-C (SIGINT) that arrives during the block until its end, then act on it as the handler in place
    would: a notebook's write, its manifest entry and its leaving the run's undo list happen together. (Only the
    main thread can set a handler; elsewhere the block is not protected.)"""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *received: caught.append(received))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught and callable(previous):
        previous(*caught[0])  # the default handler raises KeyboardInterrupt here


def _write_with_entry(nb: nbformat.NotebookNode, notebook: Path, record) -> list[str]:
    """Write the executed notebook, then its manifest entries (`record()`, which the manifest is written by, never
    by hand), as one step: stopped between the two (Ctrl-C), both files are put back, so a notebook is never left
    rewritten without its entries (the run's undo then restores its exhibits)."""
    from . import verify

    kept = {path: _bytes(path) for path in (notebook, verify.manifest_path())}
    try:
        nbformat.write(nb, notebook)
        return record()
    except BaseException:
        for path, data in kept.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                paths.replace_atomically(path, data)
        raise


def execute(
    notebook: Path, parameters: dict | None = None, kernel: str | None = None, debug: bool = False
) -> NotebookResult:
    """Execute one notebook in place; on any failure raise UpgradingError and leave every file as it was."""
    parameters = _declared(notebook, parameters)
    started = _Started.now(notebook, set())
    try:
        return _finish(started, lambda: _kernel_run(notebook, parameters, kernel, started), parameters, debug)
    finally:
        started.journal.unlink(missing_ok=True)


def run(
    only: list[str] | None = None,
    parameters: dict | None = None,
    kernel: str | None = None,
    debug: bool = False,
    progress: bool = True,
    echo=print,
    jobs: int = 1,
) -> list[NotebookResult]:
    """Run the selected notebooks, up to `jobs` at once (each in its own kernel), started in number order (with
    `jobs` > 1, those the registry declares `start_first` before the others); after a failure no further notebook
    starts, those already running finish, and the first failure is raised.

    With `jobs` > 1, a notebook's check that it wrote only its own exhibits leaves out the exhibits of the
    notebooks that ran beside it (they are checked by their own notebook's run): `jobs=1` checks every file.
    """
    import matplotlib.font_manager  # noqa: F401  builds the font cache here, not as kernel output
    from tqdm import tqdm

    notebooks = select(discover(), only)
    if not notebooks:
        raise UpgradingError("there are no numbered notebooks (NN_name.ipynb) in notebooks/")
    if jobs < 1:
        raise UpgradingError(f"the number of notebooks run at once must be at least 1, not {jobs}")
    if jobs > 1:
        notebooks = _start_order(notebooks)
    for folder in (*OUTPUT_DIRS, paths.FOLDERS["DATA_INTERIM"]):  # what a killed kernel was writing when it died
        paths.remove_stale_partials(paths.root() / folder)
    bar = tqdm(total=len(notebooks), unit="notebook", disable=not progress, file=sys.stderr, leave=False)
    results, failures = _run_side_by_side(notebooks, parameters or {}, kernel, debug, jobs, bar, echo, progress)
    bar.close()
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise UpgradingError(f"{len(failures)} notebooks failed:\n" + "\n".join(f"  - {e}" for e in failures))
    return sorted(results, key=lambda r: r.notebook)


def _start_order(notebooks: list[Path]) -> list[Path]:
    """The compendium's notebooks declared `start_first` in the registry, in the declared order (the longest first,
    so that the short ones fill the end), then the others in number order."""
    from . import registry

    first = registry.load().start_first
    if not all(nb.parent.resolve() == paths.NOTEBOOKS.resolve() for nb in notebooks):
        return notebooks
    by_name = {nb.name: nb for nb in notebooks}  # each selected notebook once, whatever the registry lists
    started = dict.fromkeys(by_name[name] for name in first if name in by_name)
    return [*started, *(nb for nb in notebooks if nb not in started)]


def _run_side_by_side(notebooks, parameters, kernel, debug, jobs, bar, echo, progress):
    """Start notebooks in order while fewer than `jobs` run and none has failed; check and write each as it
    ends (in this thread, so the manifest and the checks see one notebook at a time). If anything else stops the
    run (Ctrl-C, an unexpected error with `debug`), the notebooks still running are stopped and undone."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    queue, running, results, failures = list(notebooks), {}, [], []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            while running or (queue and not failures):
                while queue and not failures and len(running) < jobs:
                    notebook = queue.pop(0)
                    try:  # before anything is made for it: an unreadable notebook fails alone, and starts nothing
                        declared = _declared(notebook, parameters)
                    except UpgradingError as error:
                        failures.append(error)
                        continue
                    with _interrupt_deferred():  # a journal is made only for a notebook on the undo list
                        started = _Started.now(notebook, {other.notebook.name for other, _ in running.values()})
                        for other, _ in running.values():
                            other.beside.add(notebook.name)
                        at_once = min(jobs, len(running) + 1 + len(queue))  # alone: all the workers
                        future = pool.submit(_kernel_run, notebook, declared, kernel, started, at_once)
                        running[future] = (started, declared)
                bar.set_description(", ".join(s.notebook.name for s, _ in running.values()))
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: running[f][0].notebook.name):
                    started, declared = running[future]  # still running (to undo) until checked and written
                    try:
                        result = _finish(
                            started, future.result, declared, debug, on_written=partial(_done, running, future, started)
                        )
                    except UpgradingError as error:  # restored by _finish
                        if future in running:
                            _done(running, future, started)
                        failures.append(error)
                        continue
                    # anything else (Ctrl-C, an error under `debug`) leaves it running, for _abandon to undo
                    results.append(result)
                    bar.update()
                    (_tqdm_write if progress else echo)(result.summary())
        except BaseException:
            _abandon([started for started, _ in running.values()], list(running))
            raise
    return results, failures


def _done(running: dict, future, started: _Started) -> None:
    """A notebook checked and written, or failed and restored: no longer one to undo, nor its journal needed."""
    del running[future]
    started.journal.unlink(missing_ok=True)


def _abandon(abandoned: list[_Started], futures: list) -> None:
    """Stop the notebooks still running (kill their kernels) and, once their threads end, put back each one's
    outputs as they were when it started, latest first (so the earliest snapshot wins where two wrote a file):
    an interrupted run leaves what the finished notebooks wrote and nothing half-made. A finished notebook's
    exhibits are left alone."""
    from concurrent.futures import wait

    for started in abandoned:
        started.stop()
    wait(futures)
    names = {started.notebook.name for started in abandoned}
    for started in sorted(abandoned, key=lambda s: s.start, reverse=True):
        _restore(started.before, started.others_files(beside=started.beside - names))
        started.journal.unlink(missing_ok=True)


def _tqdm_write(text: str) -> None:
    from tqdm import tqdm

    tqdm.write(text)
