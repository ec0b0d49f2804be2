"""Errors raised for bad input.

Every error the engine raises for something a user typed, a URL carried or a
data file held is an :class:`InputError`. Its message names the field and the
allowed range, so the CLI can print it as one line and the app can show it as
a notice, with no traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """A value given to the engine is not allowed.

    Parameters
    ----------
    field
        The input's name as the user knows it (a scenario key, a CLI flag, or
        ``file: key`` for data files).
    message
        What is wrong and what is allowed, in one line.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class SpecError(InputError):
    """A data file (accelerator or model spec) is malformed."""
