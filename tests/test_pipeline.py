"""The notebook runner: selection, normalisation, and what a failure leaves behind."""

import hashlib
import os

import nbformat
import pytest
from helpers import git_tracked, run_cli
from nbformat.v4 import new_code_cell, new_notebook

from upgrading.compendium import executed, pipeline
from upgrading.compendium.cli import main
from upgrading.errors import UpgradingError
from upgrading.paths import ROOT


def _digest(paths):
    return {p: hashlib.sha256((ROOT / p).read_bytes()).hexdigest() for p in paths}


def test_discover_finds_numbered_notebooks_in_order():
    found = [p.name for p in pipeline.discover()]
    assert found == sorted(found) and found[0].startswith("01_")


def test_select_by_number_name_and_unknown(tmp_path):
    nbs = [tmp_path / "01_a.ipynb", tmp_path / "02_b.ipynb"]
    assert pipeline.select(nbs, ["2"]) == [nbs[1]]
    assert pipeline.select(nbs, ["01_a", "02_b.ipynb"]) == nbs
    with pytest.raises(UpgradingError, match=r"no notebook matches '99'.*01_a.ipynb, 02_b.ipynb"):
        pipeline.select(nbs, ["99"])


def test_duplicate_numbers_are_refused(tmp_path):
    for name in ("01_a.ipynb", "01_b.ipynb"):
        nbformat.write(new_notebook(), tmp_path / name)
    with pytest.raises(UpgradingError, match="more than one notebook is numbered 01"):
        pipeline.discover(tmp_path)


def test_normalise_removes_volatile_metadata():
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("y = 2")])
    nb.metadata["papermill"] = {"start_time": "now", "input_path": "/somewhere"}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    nb.cells[0].metadata.update({"papermill": {"duration": 1.0}, "execution": {"iopub.status.busy": "t"}, "tags": []})
    nb.cells[1].metadata["tags"] = ["injected-parameters"]
    nb.cells[1].id = "random-id-1234"
    out = executed.normalise(nb)
    assert "papermill" not in out.metadata
    assert "version" not in out.metadata["language_info"]
    assert out.cells[0].metadata == {}
    assert out.cells[1].id == "injected-parameters"


@pytest.mark.slow
def test_failing_notebook_leaves_notebook_and_exhibits_as_they_were(tmp_path, monkeypatch):
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "kept.csv").write_text("original\n")
    monkeypatch.setattr(pipeline, "OUTPUT_DIRS", (figures,))
    nb = new_notebook(
        cells=[
            new_code_cell(
                f"from pathlib import Path\nPath({str(figures)!r}, 'kept.csv').write_text('clobbered')\n"
                f"Path({str(figures)!r}, 'new.csv').write_text('new')"
            ),
            new_code_cell("raise ValueError('deliberate failure for the test')"),
        ]
    )
    path = tmp_path / "01_broken.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    with pytest.raises(UpgradingError) as err:
        pipeline.execute(path)
    message = str(err.value)
    assert "01_broken.ipynb failed in cell 1" in message
    assert "ValueError: deliberate failure for the test" in message
    assert path.read_bytes() == before
    assert (figures / "kept.csv").read_text() == "original\n"
    assert not (figures / "new.csv").exists()


def test_cli_unknown_notebook_is_a_one_paragraph_error(capsys):
    assert main(["run", "--only", "99"]) == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "no notebook matches '99'" in message and "01_codebook.ipynb" in message
    assert "Traceback" not in message


@pytest.mark.slow
def test_cli_missing_kernel_changes_nothing():
    tracked = git_tracked("notebooks", "figures")
    before = _digest(tracked)
    result = run_cli("run", "--only", "01", "--kernel", "no-such-kernel", "--quiet")
    assert result.returncode == 2
    assert "no Jupyter kernel named 'no-such-kernel'" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert _digest(tracked) == before


def test_cli_debug_shows_the_traceback():
    with pytest.raises(UpgradingError, match="no notebook matches"):
        main(["--debug", "run", "--only", "99"])


@pytest.mark.slow
def test_a_notebook_that_writes_an_undeclared_exhibit_is_refused_and_undone(tmp_path, monkeypatch):
    from upgrading import paths
    from upgrading.compendium import registry

    monkeypatch.setattr(paths, "root", lambda: tmp_path)  # ROOT, NOTEBOOKS and FIGURES follow it
    monkeypatch.setattr(pipeline, "OUTPUT_DIRS", ("figures",))
    monkeypatch.setattr(
        registry,
        "load",
        lambda: registry.parse(
            '[[exhibit]]\nname = "kept"\nkind = "table"\nnotebook = "01_stray.ipynb"\ncaption = "Kept."\n'
        ),
    )
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "figures").mkdir()
    for suffix in ("csv", "md"):
        (tmp_path / "figures" / f"kept.{suffix}").write_text("kept\n")
    nb = new_notebook(
        cells=[
            new_code_cell(
                f"from pathlib import Path\nPath({str(tmp_path / 'figures')!r}, 'stray.png').write_bytes(b'x')"
            )
        ]
    )
    path = tmp_path / "notebooks" / "01_stray.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    with pytest.raises(UpgradingError, match=r"01_stray.ipynb wrote figures/stray.png, which is not declared in src/"):
        pipeline.execute(path)
    assert not (tmp_path / "figures" / "stray.png").exists() and path.read_bytes() == before


def _stream(name, text):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_normalise_joins_stream_chunks_so_flush_timing_never_shows():
    nb = new_notebook(cells=[new_code_cell("")])
    shown = nbformat.v4.new_output("display_data", data={"text/plain": "table"})
    nb.cells[0].outputs = [
        _stream("stdout", "wrote a\n"),
        _stream("stdout", "wrote b\n"),
        shown,
        _stream("stdout", "wrote c\n"),
        _stream("stdout", "wrote d\n"),
    ]
    outs = executed.normalise(nb).cells[0].outputs
    assert [(o.output_type, o.get("text")) for o in outs] == [
        ("stream", "wrote a\nwrote b\n"),
        ("display_data", None),
        ("stream", "wrote c\nwrote d\n"),
    ]


def test_stderr_rule_drops_declared_notices_and_fails_on_anything_else():
    nb = new_notebook(cells=[new_code_cell(""), new_code_cell("")])
    nb.cells[0].outputs = [
        _stream("stdout", "wrote a\n"),
        _stream("stderr", "Matplotlib is building the font cache; this may take a moment.\n"),
        _stream("stdout", "wrote b\n"),
    ]
    out = executed.normalise(executed.strip_stderr(nb, "01_x.ipynb"))
    assert [(o.name, o.text) for o in out.cells[0].outputs] == [("stdout", "wrote a\nwrote b\n")]
    nb.cells[1].outputs = [_stream("stderr", "/somewhere/x.py:3: UserWarning: careful\n  warn('careful')\n")]
    with pytest.raises(executed.StrayStderr, match=r"(?s)01_x.ipynb wrote to stderr in cell 1:.*UserWarning"):
        executed.strip_stderr(nb, "01_x.ipynb")


@pytest.mark.slow
def test_a_real_kernel_chunks_its_output_and_the_runner_joins_it(tmp_path):
    """ipykernel sends stdout whenever it flushes (every 0.2 s, so a slow step splits a cell's text into two
    outputs); an explicit flush between two prints makes that split happen every time. Committed as one."""
    path = tmp_path / "01_chunks.ipynb"
    nbformat.write(
        new_notebook(cells=[new_code_cell("import sys\nprint('first')\nsys.stdout.flush()\nprint('second')")]),
        path,
    )
    pipeline.execute(path)
    outs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [(o.output_type, o.name, o.text) for o in outs] == [("stream", "stdout", "first\nsecond\n")]


@pytest.mark.slow
def test_a_run_without_parameters_runs_on_the_defaults_not_on_an_earlier_runs_sheet(tmp_path):
    """`upgrading run --coding SHEET` writes the notebook with an injected-parameters cell; a later plain run must
    not keep it (papermill replaces that cell only when given parameters)."""
    defaults = new_code_cell('sheet = "simulated.csv"')
    defaults.metadata["tags"] = ["parameters"]
    path = tmp_path / "01_params.ipynb"
    nb = new_notebook(cells=[defaults, new_code_cell("print(sheet)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)

    def ran_on():
        nb = nbformat.read(path, as_version=4)
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        return nb.cells[-1].outputs[0]["text"].strip(), ["injected-parameters"] in tags

    pipeline.execute(path, {"sheet": "mine.xlsx"})
    assert ran_on() == ("mine.xlsx", True)
    pipeline.execute(path)
    assert ran_on() == ("simulated.csv", False)


@pytest.mark.slow
def test_a_kernel_warning_fails_the_run_and_changes_nothing(tmp_path):
    path = tmp_path / "01_warns.ipynb"
    nbformat.write(
        new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("import warnings\nwarnings.warn('stray warning')")]),
        path,
    )
    before = path.read_bytes()
    with pytest.raises(UpgradingError, match=r"(?s)01_warns.ipynb wrote to stderr in cell 1:.*stray warning"):
        pipeline.execute(path)
    assert path.read_bytes() == before


@pytest.mark.slow
def test_kernels_get_their_environment_passed_and_the_callers_is_left_alone(tmp_path, monkeypatch):
    """The kernel runs with the fixed environment (time zone, hash seed, threads); the caller's is unchanged."""
    monkeypatch.setenv("TZ", "Pacific/Chatham")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    notebook = tmp_path / "99_env.ipynb"
    nbformat.write(
        new_notebook(cells=[new_code_cell("import os\nprint(os.environ['TZ'], os.environ['PYTHONHASHSEED'])")]),
        notebook,
    )
    before = dict(os.environ)
    pipeline.execute(notebook)
    assert dict(os.environ) == before
    printed = nbformat.read(notebook, 4).cells[0].outputs[0]["text"]
    assert printed.strip() == "UTC 0"


def _compendium(tmp_path, monkeypatch, declared: dict[str, str]):
    """A compendium in tmp_path whose registry declares one table exhibit per notebook ({exhibit: notebook})."""
    from upgrading import paths
    from upgrading.compendium import registry

    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    monkeypatch.setattr(pipeline, "OUTPUT_DIRS", ("figures",))
    text = "".join(
        f'[[exhibit]]\nname = "{name}"\nkind = "table"\nnotebook = "{notebook}"\ncaption = "{name}."\n'
        for name, notebook in declared.items()
    )
    monkeypatch.setattr(registry, "load", lambda: registry.parse(text))
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "figures").mkdir()


def _writes(tmp_path, name, then=""):
    figures = str(tmp_path / "figures")
    return new_code_cell(
        "from pathlib import Path\n"
        f"for suffix in ('csv', 'md'):\n    Path({figures!r}, f'{name}.{{suffix}}').write_text('{name} new\\n')\n"
        f"{then}"
    )


#: The longest a test kernel waits for another notebook's file (then it fails, or goes on, rather than hangs). The
#: waits are on events, not on time: with the runner working they end when the file is written or the kernel is
#: killed, long before this; a bound on the number of tries instead ran out on a fast, quiet machine.
WAIT_LIMIT = 300


def _waits_until(condition: str, otherwise: str) -> str:
    """Kernel code that checks `condition` every 10 ms until it holds, for at most WAIT_LIMIT seconds; then runs
    `otherwise` (raise: fail; pass: go on)."""
    return (
        "import os, time\nfrom pathlib import Path\n"
        f"_deadline = time.monotonic() + {WAIT_LIMIT}\n"
        f"while not ({condition}):\n"
        f"    if time.monotonic() > _deadline:\n        {otherwise}\n        break\n"
        "    time.sleep(0.01)\n"
    )


def _waits_for(path, text: str) -> str:
    """Kernel code that waits until the file holds `text` (it fails rather than hangs): it can only do so while
    another notebook runs beside it."""
    return _waits_until(
        f"Path({str(path)!r}).read_text() == {text!r}", "raise RuntimeError('no notebook ran beside this one')"
    )


def _signals_then_fails(signal) -> str:
    """Kernel code that writes the file `signal` (outside the outputs: nothing undoes it), then fails: a neighbour
    that sees the signal and this notebook's exhibit put back knows the failure was undone."""
    return f"Path({str(signal)!r}).write_text('yes')\nraise ValueError('two fails')"


def _runs_until_killed(path) -> str:
    """Kernel code that waits for a file that is never written: the runner kills the kernel first (if it did not,
    the code goes on after WAIT_LIMIT seconds, to a line the test checks is never reached)."""
    return _waits_until(f"Path({str(path)!r}).exists()", "pass")


@pytest.mark.slow
def test_notebooks_run_side_by_side_and_a_failure_undoes_only_its_own_exhibits(tmp_path, monkeypatch):
    """Two kernels at once: 01 succeeds, 02 fails while 01 runs (its exhibit is restored, 01's is kept), and 03,
    which would start after the failure, never starts."""
    _compendium(tmp_path, monkeypatch, {"one": "01_one.ipynb", "two": "02_two.ipynb", "three": "03_three.ipynb"})
    for name in ("one", "two", "three"):
        for suffix in ("csv", "md"):
            (tmp_path / "figures" / f"{name}.{suffix}").write_text(f"{name} old\n")
    two, one, failing = tmp_path / "figures" / "two.csv", tmp_path / "figures" / "one.csv", tmp_path / "two_fails"
    restored = f"Path({str(failing)!r}).exists() and Path({str(two)!r}).read_text() == 'two old\\n'"
    notebooks = {
        # 01 runs until 02 has failed (a signal file, no output) and been undone: only side by side can it end; 02
        # fails only once 01 has written its exhibit (looking for 02's exhibit as written instead could miss a state
        # the undo ends before 01 looks)
        "01_one": [_writes(tmp_path, "one", then=_waits_until(restored, "raise RuntimeError('02 was not undone')"))],
        "02_two": [
            _writes(
                tmp_path, "two",
                then=_waits_for(one, "one new\n") + _signals_then_fails(failing),
            )
        ],
        "03_three": [_writes(tmp_path, "three")],
    }  # fmt: skip
    before = {}
    for stem, cells in notebooks.items():
        path = tmp_path / "notebooks" / f"{stem}.ipynb"
        nbformat.write(new_notebook(cells=cells), path)
        before[stem] = path.read_bytes()
    with pytest.raises(UpgradingError, match=r"02_two.ipynb failed in cell 0.*ValueError: two fails"):
        pipeline.run(jobs=2, progress=False, echo=lambda _: None)
    figures = tmp_path / "figures"
    assert (figures / "one.csv").read_text() == "one new\n"  # 01 ran beside 02 and succeeded: kept
    assert (figures / "two.csv").read_text() == "two old\n"  # 02 failed: restored
    assert (figures / "three.csv").read_text() == "three old\n"  # 03 never started
    assert (tmp_path / "notebooks" / "01_one.ipynb").read_bytes() != before["01_one"]  # executed, written
    for stem in ("02_two", "03_three"):
        assert (tmp_path / "notebooks" / f"{stem}.ipynb").read_bytes() == before[stem]


def test_a_file_being_written_is_not_an_output_yet(tmp_path, monkeypatch):
    """`paths.replace_atomically` writes a hidden partial file, then renames it: snapshots (what a failure restores,
    what the registry check sees) skip partial files, and none is left behind."""
    from upgrading import paths

    monkeypatch.setattr(paths, "root", lambda: tmp_path)
    monkeypatch.setattr(pipeline, "OUTPUT_DIRS", ("figures",))
    (tmp_path / "figures").mkdir()
    paths.replace_atomically(tmp_path / "figures" / "done.csv", b"done\n")
    (tmp_path / "figures" / ".busy.csv.123-4.partial").write_bytes(b"half")
    assert list(pipeline._snapshot()) == [tmp_path / "figures" / "done.csv"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [".busy.csv.123-4.partial", "done.csv"]


def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.slow
def test_a_partial_file_left_by_a_killed_writer_is_removed_and_a_live_writers_is_not(tmp_path, monkeypatch):
    """A kernel killed mid-write leaves its partial file: the next `upgrading run` removes it (its writer's process
    is gone), and leaves alone one a live process is writing."""
    _compendium(tmp_path, monkeypatch, {"one": "01_one.ipynb"})
    nbformat.write(new_notebook(cells=[_writes(tmp_path, "one")]), tmp_path / "notebooks" / "01_one.ipynb")
    figures = tmp_path / "figures"
    dead = figures / "sub" / f".one.png.{_dead_pid()}-7.partial"
    live = figures / f".one.csv.{os.getpid()}-7.partial"
    dead.parent.mkdir()
    for partial in (dead, live):
        partial.write_bytes(b"half")
    pipeline.run(progress=False, echo=lambda _: None)
    assert not dead.exists() and live.exists()
    assert (figures / "one.csv").read_text() == "one new\n"


@pytest.mark.slow
def test_side_by_side_runs_give_the_same_notebooks_as_one_at_a_time_each_kernel_in_its_folder(tmp_path, monkeypatch):
    """Side by side or one after another, the same notebooks come out; each kernel starts in its notebook's folder
    and the caller's working folder never moves (papermill's own `cwd` would chdir the whole process, which
    threads race on)."""
    _compendium(tmp_path, monkeypatch, {"one": "01_one.ipynb", "two": "02_two.ipynb"})
    for stem, name in (("01_one", "one"), ("02_two", "two")):
        cell = _writes(tmp_path, name, then="import os\nprint(os.getcwd())")
        nbformat.write(new_notebook(cells=[cell]), tmp_path / "notebooks" / f"{stem}.ipynb")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    written = []
    for jobs in (1, 2):
        results = pipeline.run(jobs=jobs, progress=False, echo=lambda _: None)
        assert [r.notebook for r in results] == ["01_one.ipynb", "02_two.ipynb"]
        assert os.getcwd() == str(elsewhere)
        written.append({p.name: p.read_bytes() for p in (tmp_path / "notebooks").iterdir()})
    assert written[0] == written[1]
    for stem in ("01_one", "02_two"):
        printed = nbformat.read(tmp_path / "notebooks" / f"{stem}.ipynb", 4).cells[0].outputs[0]["text"]
        assert printed.strip() == str(tmp_path / "notebooks")
    with pytest.raises(UpgradingError, match="at least 1"):
        pipeline.run(jobs=0)


@pytest.mark.slow
def test_kernels_run_side_by_side_are_told_to_share_the_workers(tmp_path, monkeypatch):
    """Two notebooks at once each get half of a notebook's joblib workers (`settings.workers_beside`), so their
    parallel steps do not start more processes than there are cores; a notebook run alone gets them all; the
    caller's environment is left alone."""
    from upgrading.study import settings

    _compendium(tmp_path, monkeypatch, {"one": "01_one.ipynb", "two": "02_two.ipynb"})
    for stem, name in (("01_one", "one"), ("02_two", "two")):
        cell = _writes(tmp_path, name, then="from upgrading.study import settings\nprint(settings.notebook_workers())")
        nbformat.write(new_notebook(cells=[cell]), tmp_path / "notebooks" / f"{stem}.ipynb")
    monkeypatch.delenv(settings.NOTEBOOK_WORKERS_VARIABLE, raising=False)
    pipeline.run(jobs=2, progress=False, echo=lambda _: None)
    for stem in ("01_one", "02_two"):
        printed = nbformat.read(tmp_path / "notebooks" / f"{stem}.ipynb", 4).cells[0].outputs[0]["text"]
        assert printed.strip() == "1" == str(settings.workers_beside(2))
    pipeline.run(only=["02"], jobs=2, progress=False, echo=lambda _: None)  # alone, though two may run at once
    printed = nbformat.read(tmp_path / "notebooks" / "02_two.ipynb", 4).cells[0].outputs[0]["text"]
    assert printed.strip() == "2"
    assert settings.NOTEBOOK_WORKERS_VARIABLE not in os.environ and settings.notebook_workers() == 2


def test_a_notebooks_workers_are_the_design_cards_two_unless_the_runner_says_otherwise(monkeypatch):
    from upgrading.study import settings

    monkeypatch.delenv(settings.NOTEBOOK_WORKERS_VARIABLE, raising=False)
    assert settings.notebook_workers() == settings.NOTEBOOK_WORKERS == 2
    for value, workers in (("1", 1), ("3", 3), ("0", 2), ("", 2), ("two", 2), ("-1", 2), ("\u00b2", 2)):
        monkeypatch.setenv(settings.NOTEBOOK_WORKERS_VARIABLE, value)
        assert settings.notebook_workers() == workers, value
    assert [settings.workers_beside(n) for n in (1, 2, 3, 8)] == [2, 1, 1, 1]


def _writes_processed(tmp_path, name, then=""):
    """Kernel code writing `data/processed/<name>.csv` the way notebooks write outputs (`paths.write_output`)."""
    target = str(tmp_path / "data" / "processed" / f"{name}.csv")
    return new_code_cell(
        "from pathlib import Path\nfrom upgrading import paths\n"
        f"paths.write_output(Path({target!r}), '{name} new\\n')\n{then}"
    )


def _side_by_side_compendium(tmp_path, monkeypatch):
    """Two notebooks, each with a registered exhibit and an unregistered output under data/processed/."""
    _compendium(tmp_path, monkeypatch, {"one": "01_one.ipynb", "two": "02_two.ipynb"})
    monkeypatch.setattr(pipeline, "OUTPUT_DIRS", ("figures", "data/processed"))
    (tmp_path / "data" / "processed").mkdir(parents=True)
    for name in ("one", "two"):
        for suffix in ("csv", "md"):
            (tmp_path / "figures" / f"{name}.{suffix}").write_text(f"{name} old\n")
        (tmp_path / "data" / "processed" / f"{name}.csv").write_text(f"{name} old\n")


@pytest.mark.slow
def test_a_failure_beside_a_neighbour_restores_its_own_processed_data_and_keeps_the_neighbours(tmp_path, monkeypatch):
    """Outside figures/ no registry says whose a file is: the kernel's write journal does. 02 fails while 01 runs:
    02's data/processed/ output is put back, 01's (written while 02 ran) is kept."""
    _side_by_side_compendium(tmp_path, monkeypatch)
    two, failing = tmp_path / "figures" / "two.csv", tmp_path / "two_fails_now"  # the signal is no output
    one_processed = tmp_path / "data" / "processed" / "one.csv"
    # 02 fails only once 01 has written its processed output, and 01 goes on only once 02's failure is undone: the
    # order the test is about, whatever the scheduling (01 used to look for 02's exhibit as written, a state the
    # undo can end before 01 looks, and then never went on)
    restored = f"Path({str(failing)!r}).exists() and Path({str(two)!r}).read_text() == 'two old\\n'"
    notebooks = {
        "01_one": [
            _writes_processed(tmp_path, "one"),
            _writes(tmp_path, "one", then=_waits_until(restored, "raise RuntimeError('02 was not undone')")),
        ],
        "02_two": [
            _writes_processed(tmp_path, "two"),
            _writes(
                tmp_path, "two",
                then=_waits_for(one_processed, "one new\n") + _signals_then_fails(failing),
            ),
        ],
    }  # fmt: skip
    for stem, cells in notebooks.items():
        nbformat.write(new_notebook(cells=cells), tmp_path / "notebooks" / f"{stem}.ipynb")
    with pytest.raises(UpgradingError, match=r"02_two.ipynb failed"):
        pipeline.run(jobs=2, progress=False, echo=lambda _: None)
    processed = tmp_path / "data" / "processed"
    assert (processed / "two.csv").read_text() == "two old\n"  # 02's own, restored
    assert (processed / "one.csv").read_text() == "one new\n"  # 01's, kept
    assert (tmp_path / "figures" / "one.csv").read_text() == "one new\n"


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["debug", "interrupt"])
def test_a_run_stopped_by_an_unexpected_error_or_ctrl_c_stops_and_undoes_the_notebooks_still_running(
    tmp_path, monkeypatch, stop
):
    """With `debug` a failure's own error propagates, and Ctrl-C raises KeyboardInterrupt, while another notebook
    runs: that notebook's kernel is killed (it never reaches its last line) and all it wrote is put back."""
    _side_by_side_compendium(tmp_path, monkeypatch)
    ready, release, finished = (tmp_path / name for name in ("ready", "release", "finished"))
    ready.write_text("no\n")
    release.write_text("no\n")
    notebooks = {
        # 01 writes, then waits for a release that never comes; killed, it never writes `finished`
        "01_one": [
            _writes_processed(tmp_path, "one"),
            _writes(tmp_path, "one", then=f"Path({str(ready)!r}).write_text('yes\\n')"),
            new_code_cell(
                _waits_until(f"Path({str(release)!r}).read_text() == 'yes\\n'", "pass")
                + f"Path({str(finished)!r}).write_text('finished')"
            ),
        ],
        "02_two": [_writes(tmp_path, "two", then=_waits_for(ready, "yes\n") + "raise ValueError('two fails')")],
    }
    before = {}
    for stem, cells in notebooks.items():
        path = tmp_path / "notebooks" / f"{stem}.ipynb"
        nbformat.write(new_notebook(cells=cells), path)
        before[stem] = path.read_bytes()
    if stop == "interrupt":
        finish = pipeline._finish

        def interrupted(started, *args, **kwargs):
            if started.notebook.name == "02_two.ipynb":
                raise KeyboardInterrupt
            return finish(started, *args, **kwargs)

        monkeypatch.setattr(pipeline, "_finish", interrupted)
        with pytest.raises(KeyboardInterrupt):
            pipeline.run(jobs=2, progress=False, echo=lambda _: None)
    else:
        import papermill.exceptions

        with pytest.raises(papermill.exceptions.PapermillExecutionError, match="two fails"):
            pipeline.run(jobs=2, progress=False, debug=True, echo=lambda _: None)
    assert not finished.exists()  # 01's kernel was stopped, not waited for
    for name in ("one", "two"):
        assert (tmp_path / "figures" / f"{name}.csv").read_text() == f"{name} old\n"
    assert (tmp_path / "data" / "processed" / "one.csv").read_text() == "one old\n"
    for stem, data in before.items():
        assert (tmp_path / "notebooks" / f"{stem}.ipynb").read_bytes() == data


def _journals(folder) -> list:
    return sorted(p.name for p in folder.glob("upgrading-writes-*"))


@pytest.mark.slow
def test_ctrl_c_between_a_notebooks_write_and_its_manifest_entry_puts_both_back_and_undoes_it(tmp_path, monkeypatch):
    """Ctrl-C lands after 02's notebook is written but before its manifest entry, while 01 still runs: 02's
    notebook and the manifest are put back, 02's exhibits and data restored (its journal still names them), 01 is
    stopped and undone, and no journal is left behind."""
    import tempfile

    from upgrading.compendium import verify

    _side_by_side_compendium(tmp_path, monkeypatch)
    journals = tmp_path / "tmp"
    journals.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(journals))
    manifest = tmp_path / verify.MANIFEST
    manifest.write_text('{"exhibits": {}, "generated_by": "upgrading run"}\n')
    ready, finished = tmp_path / "ready", tmp_path / "finished"
    ready.write_text("no\n")
    notebooks = {
        "01_one": [  # writes, then waits until it is killed; never writes `finished`
            _writes_processed(tmp_path, "one"),
            _writes(tmp_path, "one", then=f"Path({str(ready)!r}).write_text('yes\\n')"),
            new_code_cell(_runs_until_killed(tmp_path / "never") + f"Path({str(finished)!r}).write_text('finished')"),
        ],
        "02_two": [_writes_processed(tmp_path, "two"), _writes(tmp_path, "two", then=_waits_for(ready, "yes\n"))],
    }
    before = {}
    for stem, cells in notebooks.items():
        path = tmp_path / "notebooks" / f"{stem}.ipynb"
        nbformat.write(new_notebook(cells=cells), path)
        before[stem] = path.read_bytes()
    written = []

    def interrupted(notebook, parameters=None):
        written.append(notebook.read_bytes())  # the notebook as the run wrote it, before its entry
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "record", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(jobs=2, progress=False, echo=lambda _: None)
    assert written and written[0] != before["02_two"]  # the interrupt came after the write
    for stem, data in before.items():
        assert (tmp_path / "notebooks" / f"{stem}.ipynb").read_bytes() == data
    assert manifest.read_text() == '{"exhibits": {}, "generated_by": "upgrading run"}\n'
    for name in ("one", "two"):
        assert (tmp_path / "figures" / f"{name}.csv").read_text() == f"{name} old\n"
        assert (tmp_path / "data" / "processed" / f"{name}.csv").read_text() == f"{name} old\n"
    assert not finished.exists()
    assert _journals(journals) == []


@pytest.mark.slow
def test_a_manifest_that_cannot_be_written_leaves_the_notebook_and_its_exhibits_as_they_were(tmp_path, monkeypatch):
    """The manifest entry fails (a merge-conflicted manifest.json): the notebook, the manifest and the notebook's
    exhibits and data are all put back, and the error says how to mend the manifest."""
    from upgrading.compendium import verify

    _side_by_side_compendium(tmp_path, monkeypatch)
    manifest = tmp_path / verify.MANIFEST
    manifest.write_text("<<<<<<< HEAD\n")
    path = tmp_path / "notebooks" / "01_one.ipynb"
    nbformat.write(new_notebook(cells=[_writes_processed(tmp_path, "one"), _writes(tmp_path, "one")]), path)
    before = path.read_bytes()
    with pytest.raises(UpgradingError, match="git checkout manifest.json"):
        pipeline.run(only=["01"], jobs=1, progress=False, echo=lambda _: None)
    assert path.read_bytes() == before and manifest.read_text() == "<<<<<<< HEAD\n"
    assert (tmp_path / "figures" / "one.csv").read_text() == "one old\n"
    assert (tmp_path / "data" / "processed" / "one.csv").read_text() == "one old\n"


@pytest.mark.slow
def test_ctrl_c_while_a_notebook_is_written_waits_until_it_is_whole(tmp_path, monkeypatch):
    """A real SIGINT that arrives while 02's notebook and manifest entry are written (01 still running) is held
    until 02 is written, entered and off the undo list: 02 is kept whole (notebook, entry, exhibits agree), then the
    run stops and undoes 01."""
    import json
    import signal

    from upgrading.compendium import verify

    _side_by_side_compendium(tmp_path, monkeypatch)
    ready = tmp_path / "ready"
    ready.write_text("no\n")
    notebooks = {
        "01_one": [
            _writes(tmp_path, "one", then=f"Path({str(ready)!r}).write_text('yes\\n')"),
            new_code_cell(_runs_until_killed(tmp_path / "never")),
        ],
        "02_two": [_writes_processed(tmp_path, "two"), _writes(tmp_path, "two", then=_waits_for(ready, "yes\n"))],
    }
    for stem, cells in notebooks.items():
        nbformat.write(new_notebook(cells=cells), tmp_path / "notebooks" / f"{stem}.ipynb")
    before = (tmp_path / "notebooks" / "01_one.ipynb").read_bytes()
    record = verify.record

    def interrupted_while_recording(notebook, parameters=None):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, in the middle of the write
        return record(notebook, parameters)

    monkeypatch.setattr(verify, "record", interrupted_while_recording)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            pipeline.run(jobs=2, progress=False, echo=lambda _: None)
    finally:
        signal.signal(signal.SIGINT, previous)
    entries = json.loads((tmp_path / verify.MANIFEST).read_text())["exhibits"]
    assert set(entries) == {"figures/two.csv", "figures/two.md"}  # 02 whole: entered, and its exhibits kept
    assert (tmp_path / "figures" / "two.csv").read_text() == "two new\n"
    assert verify.sha256(tmp_path / "figures" / "two.csv") == entries["figures/two.csv"]["sha256"]
    assert nbformat.read(tmp_path / "notebooks" / "02_two.ipynb", 4).cells[0].get("outputs") is not None
    assert (tmp_path / "notebooks" / "01_one.ipynb").read_bytes() == before  # 01 stopped and undone
    assert (tmp_path / "figures" / "one.csv").read_text() == "one old\n"


@pytest.mark.slow
def test_a_real_ctrl_c_while_the_run_waits_for_its_kernels_stops_and_undoes_both(tmp_path, monkeypatch):
    """A real SIGINT to the runner while it waits on two running kernels (sent by 02's kernel to its parent, the
    runner, once 01 has written): KeyboardInterrupt, both kernels killed before their last line, everything put
    back, no journal left."""
    import signal
    import tempfile

    _side_by_side_compendium(tmp_path, monkeypatch)
    journals = tmp_path / "tmp"
    journals.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(journals))
    ready = tmp_path / "ready"
    ready.write_text("no\n")
    until_killed = _runs_until_killed(tmp_path / "never")
    notebooks = {
        "01_one": [
            _writes_processed(tmp_path, "one"),
            _writes(tmp_path, "one", then=f"Path({str(ready)!r}).write_text('yes\\n')"),
            new_code_cell(until_killed + f"Path({str(tmp_path / 'one finished')!r}).write_text('finished')"),
        ],
        "02_two": [
            _writes_processed(tmp_path, "two"),
            _writes(tmp_path, "two", then=_waits_for(ready, "yes\n")),
            new_code_cell(
                "import signal\nos.kill(os.getppid(), signal.SIGINT)\n"  # the runner is the kernel's parent
                + until_killed
                + f"Path({str(tmp_path / 'two finished')!r}).write_text('finished')"
            ),
        ],
    }
    for stem, cells in notebooks.items():
        nbformat.write(new_notebook(cells=cells), tmp_path / "notebooks" / f"{stem}.ipynb")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a test runner may not)
    try:
        with pytest.raises(KeyboardInterrupt):
            pipeline.run(jobs=2, progress=False, echo=lambda _: None)
    finally:
        signal.signal(signal.SIGINT, previous)
    for name in ("one", "two"):
        assert not (tmp_path / f"{name} finished").exists()
        assert (tmp_path / "figures" / f"{name}.csv").read_text() == f"{name} old\n"
        assert (tmp_path / "data" / "processed" / f"{name}.csv").read_text() == f"{name} old\n"
    assert _journals(journals) == []


@pytest.mark.slow
def test_an_unreadable_notebook_fails_alone_and_its_neighbour_finishes(tmp_path, monkeypatch):
    """A notebook that is not a notebook fails before anything is made for it (no kernel, no journal); the
    notebook already running beside it finishes and keeps what it wrote; the error names the file."""
    import tempfile

    _side_by_side_compendium(tmp_path, monkeypatch)
    journals = tmp_path / "tmp"
    journals.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(journals))
    nbformat.write(new_notebook(cells=[_writes(tmp_path, "one")]), tmp_path / "notebooks" / "01_one.ipynb")
    (tmp_path / "notebooks" / "02_two.ipynb").write_text("{ not a notebook")
    with pytest.raises(UpgradingError, match=r"notebooks/02_two.ipynb cannot be read as a notebook"):
        pipeline.run(jobs=2, progress=False, echo=lambda _: None)
    assert (tmp_path / "figures" / "one.csv").read_text() == "one new\n"
    assert (tmp_path / "figures" / "two.csv").read_text() == "two old\n"
    assert _journals(journals) == []


def test_a_kernel_is_not_interrupted_on_its_way_to_shutdown(monkeypatch):
    """jupyter_client interrupts a kernel before asking it to shut down; an idle notebook kernel that gets that
    SIGINT at the wrong moment writes "KeyboardInterrupt caught in kernel" to the run's stderr (seen in about one
    run in three on a sheet with a one-case group). The runner's kernels skip that interrupt while shutting down,
    and keep it otherwise (a cell timeout interrupts)."""
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    from upgrading.compendium import kernels

    interrupted = []

    async def record(self):
        interrupted.append(self.shutting_down)

    monkeypatch.setattr(AsyncKernelManager, "_async_interrupt_kernel", record)
    manager = kernels.kernel_manager({})()
    asyncio.run(manager._async_interrupt_kernel())
    manager.shutting_down = True
    asyncio.run(manager._async_interrupt_kernel())
    assert interrupted == [False]
