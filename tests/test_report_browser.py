"""The HTML report as a reviewer meets it: opened from disk in a real, headless Chromium.

Chromium is Debian's (`chromium`), driven by Selenium through Debian's `chromedriver`, both named by path so
that Selenium never looks for, or downloads, a browser or driver of its own. The browser runs with no network
features and a new, empty profile. On every page of the report: every image has loaded (natural width > 0),
every link and anchor resolves (offline: a remote link is a broken link), and the console shows no error. From
the index, every exhibit is reachable: a link to its file, and a link to the cell whose output reports
writing it. A screenshot of the index is saved in a temporary folder.

`.ci/run` installs Chromium and its driver where they are missing (as root, with apt-get). Under CI (CI=true)
a missing browser fails this test; elsewhere it is skipped with a warning that says why.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from upgrading.compendium.cli import main

pytestmark = pytest.mark.slow  # the slower tier (`pytest -m slow`; CI runs it after README line 2)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1280,1000",
)

#: What one page reports about itself, computed in the browser once the page has loaded.
PAGE_FACTS = """
const cells = {};
for (const el of document.querySelectorAll('[id^="cell-id="]')) {
  cells[el.id] = (el.textContent.match(/wrote figures\\/\\S+/g) || []).map(s => s.slice(6));
}
return {
  ready: document.readyState,
  title: document.title,
  ids: Array.from(document.querySelectorAll('[id]'), el => el.id),
  images: Array.from(document.images, img => ({src: img.src.slice(0, 60), complete: img.complete,
                                               width: img.naturalWidth})),
  links: Array.from(document.querySelectorAll('a[href]'), a => ({raw: a.getAttribute('href'), href: a.href})),
  cells: cells,
};
"""


def registry_exhibits() -> dict[str, str]:
    """Every exhibit of the registry (src/upgrading/data/exhibits.toml) and the notebook that writes it."""
    from upgrading.compendium import registry

    return registry.load().owners()


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
    )
    if chromium and driver:
        return chromium, driver
    missing = " and ".join(n for n, p in (("chromium", chromium), ("chromedriver", driver)) if not p)
    reason = (
        f"NO BROWSER: {missing} not found, so the HTML report was NOT tested in a real browser. "
        "Install Debian's packages `chromium chromium-driver` (`.ci/run` does so when it can)."
    )
    if _in_ci():
        pytest.fail(reason + " Under CI a missing browser is a failure, not a skip.")
    warnings.warn(reason, UserWarning, stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def report_index(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report"
    assert main(["report", "--out", str(out)]) == 0
    return out / "index.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium, chromedriver = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _visit(driver, url: str) -> dict:
    driver.get(url)
    facts = driver.execute_script(PAGE_FACTS)
    facts["console"] = [e for e in driver.get_log("browser") if e.get("level") in ("SEVERE", "ERROR")]
    return facts


def _local_path(href: str) -> Path | None:
    url = urlparse(href)
    return Path(unquote(url.path)) if url.scheme == "file" else None


def test_report_in_headless_chromium(browser, report_index, tmp_path_factory):
    root = report_index.parent
    index = _visit(browser, report_index.as_uri())
    shot = tmp_path_factory.mktemp("screenshots") / "report-index.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 0
    print(f"screenshot of the report's index: {shot}")
    assert index["ready"] == "complete" and "report" in index["title"].lower(), index["title"]

    # every page of the report that the index links to, visited in the browser
    pages = {report_index.resolve(): index}
    for link in index["links"]:
        path = _local_path(link["href"])
        if path is not None and path.suffix == ".html" and path.exists() and path.resolve() not in pages:
            pages[path.resolve()] = _visit(browser, path.as_uri())
    assert len(pages) == 1 + len(list((root / "notebooks").glob("*.html"))), "a notebook page is not linked"

    problems = []
    for page, facts in pages.items():
        name = page.relative_to(root.resolve()).as_posix()
        problems += [f"{name}: console: {e['message']}" for e in facts["console"]]
        problems += [
            f"{name}: image not loaded: {img['src']}..."
            for img in facts["images"]
            if not img["complete"] or img["width"] <= 0
        ]
        for link in facts["links"]:
            url = urlparse(link["href"])
            if url.scheme in ("http", "https"):
                problems.append(f"{name}: remote link {link['raw']} (the report must work offline)")
                continue
            if url.scheme in ("data", "javascript", "mailto"):
                continue
            path = _local_path(link["href"])
            if path is None or not path.exists():
                problems.append(f"{name}: broken link {link['raw']}")
            elif url.fragment and path.suffix == ".html":
                target = pages.get(path.resolve())
                if target is None:
                    target = pages[path.resolve()] = _visit(browser, path.as_uri())
                # as the browser finds a fragment's element: the fragment as written, then percent-decoded
                if url.fragment not in target["ids"] and unquote(url.fragment) not in target["ids"]:
                    problems.append(f"{name}: no anchor for {link['raw']}")
    assert not problems, "\n".join(problems)


def test_every_exhibit_is_reachable_from_the_index(browser, report_index):
    index = _visit(browser, report_index.as_uri())
    linked = [
        (p.resolve(), unquote(urlparse(link["href"]).fragment))
        for link in index["links"]
        if (p := _local_path(link["href"])) is not None
    ]
    pages = {}  # each linked notebook page, loaded once: its cells and the exhibits each reports writing
    for path, fragment in linked:
        if fragment.startswith("cell-id=") and path not in pages:
            pages[path] = _visit(browser, path.as_uri())["cells"]
    unreachable = []
    for exhibit, notebook in sorted(registry_exhibits().items()):
        if not any(path == (report_index.parent / exhibit).resolve() and path.is_file() for path, _ in linked):
            unreachable.append(f"{exhibit}: no link to the file")
        if not any(
            path.name == Path(notebook).stem + ".html" and exhibit in pages.get(path, {}).get(fragment, [])
            for path, fragment in linked
        ):
            unreachable.append(f"{exhibit}: no link to the cell of {notebook} that writes it")
    assert not unreachable, "\n".join(unreachable)
