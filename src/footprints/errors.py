"""Errors users see: one line that names the file, feature or setting at fault and what to do."""

from kedro.io import DatasetError


class InputError(DatasetError, ValueError):
    """Bad input data or settings. Subclasses DatasetError so Kedro passes the message on unwrapped."""
