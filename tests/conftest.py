"""Shared test set-up: notebook kernels started by nbval get the same fixed environment as `upgrading run`."""

import os

from upgrading.compendium.pipeline import kernel_environment

os.environ.update(kernel_environment())
