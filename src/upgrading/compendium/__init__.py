"""The compendium machinery: repository paths, the notebook pipeline, exhibits and their registry, the manifest
and `verify`, the HTML report and the command line. Builds on `upgrading.study`.

Importing it keeps jsonschema (which nbformat, papermill and nbval import) from building the grammar of
`rfc3987-syntax`, its optional checker of the JSON-schema formats "iri" and "iri-reference": that grammar costs
about 1 s of every process that imports nbformat (jsonschema issue #1428), and no notebook schema uses those
formats. The test suite imports this package first (`-p upgrading.compendium` in pyproject.toml), before nbval.
"""

import sys

if "jsonschema" not in sys.modules:  # jsonschema imported already: too late, and nothing to change
    sys.modules.setdefault("rfc3987_syntax", None)  # `import rfc3987_syntax` now raises ImportError
