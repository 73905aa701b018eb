"""Errors a user can act on: the CLI prints them as one message, never a traceback."""

from __future__ import annotations

import os


class MedvitError(Exception):
    """Base class of every error medvit raises about the user's input or settings."""


class ImageReadError(MedvitError, ValueError):
    """A file or folder medvit cannot read as an image, with the path and what is wrong.

    Args:
        path: the file or folder that was being read.
        problem: one sentence saying what is wrong, for a person.
        details: optional further lines (e.g. the series found in a folder).
    """

    def __init__(self, path: str | os.PathLike, problem: str, details: list[str] | tuple[str, ...] = ()):
        self.path = os.fspath(path)
        self.problem = problem
        self.details = list(details)
        message = f"{self.path}: {problem}"
        if self.details:
            message += "\n" + "\n".join(f"  {line}" for line in self.details)
        super().__init__(message)


class VariableReadError(ImageReadError):
    """A variable (dataset) of a MATLAB or HDF5 file that is missing or not what it must be.

    Args:
        path: the file.
        variable: the variable's name in the file (e.g. "kspace_sub04", "mask08").
        problem: one sentence saying what is wrong, for a person.
        details: optional further lines.
    """

    def __init__(self, path: str | os.PathLike, variable: str, problem: str, details: list[str] | tuple[str, ...] = ()):
        self.variable = variable
        super().__init__(path, f"variable '{variable}' {problem}", details)


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (library messages can run to pages)."""
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]
