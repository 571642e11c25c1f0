"""A faster start for the processes that read notebooks: the command line (`upgrading`) and the test suite
(`-p upgrading.start_up` in pyproject.toml, loaded before nbval).

jsonschema, which nbformat, papermill and nbval import, registers its format checkers when it is imported; with the
optional `rfc3987-syntax` installed (jupyterlab's dependencies pull it in) it builds that package's IRI grammar
then, about 1 s of every such process (jsonschema issue #1428), for the formats "iri" and "iri-reference", which no
notebook schema uses. `skip_iri_grammar` imports jsonschema without it: in these processes jsonschema does not
check those two formats, as where the package is not installed. Importing this module does it.
"""

from __future__ import annotations

import sys


def skip_iri_grammar() -> None:
    """Import jsonschema with its IRI checker left out (nothing, if jsonschema is already imported)."""
    if "jsonschema" in sys.modules:
        return
    blocked = "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # `import rfc3987_syntax` raises ImportError, which jsonschema expects
    try:
        import jsonschema  # noqa: F401  (its format checkers are registered now)
    finally:
        if blocked:
            del sys.modules["rfc3987_syntax"]  # a later import of the package itself works


skip_iri_grammar()
