"""The compendium machinery: repository paths, the notebook pipeline, exhibits and their registry, the manifest
and `verify`, the HTML report and the command line. Builds on `upgrading.study`."""
