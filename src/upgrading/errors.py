"""One exception type for every problem a user can fix (bad input, unknown notebook, missing kernel).

The command line prints these as a plain paragraph and exits non-zero; anything else is a bug and keeps its
traceback.
"""


class UpgradingError(Exception):
    """A problem with the user's input or set-up, worded for the user."""
