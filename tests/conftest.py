"""Shared test set-up: notebook kernels started by nbval get the same fixed environment as `upgrading run`."""

import os

import matplotlib.font_manager  # noqa: F401  builds the font cache here, as `upgrading run` does, not in a kernel

from upgrading.compendium.pipeline import kernel_environment

os.environ.update(kernel_environment())
