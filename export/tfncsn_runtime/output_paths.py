"""Output paths checked before any work, and the folders they need made when writing.

Shared by `python -m tfncsn_runtime` and every `tfncsn` command (tfncsn/cli/common.py wraps
these, turning OutputPathError into its ConfigError): an output that cannot be written is one
line naming its flag, and a failed command leaves no new folder behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


class OutputPathError(ValueError):
    """An output path that cannot be written, as one line naming its flag."""


def either(choices) -> str:
    """(".npy", ".npz", ".png") -> ".npy, .npz or .png"."""
    return " or ".join(filter(None, (", ".join(choices[:-1]), choices[-1])))


def check_output(path: str | None, extensions=(".npy", ".png"), flag: str = "--output") -> str:
    """The extension of output file `path`, once it is known to be writable: an allowed
    extension, not a folder, a folder that takes new files, an existing file that may be
    written. Creates nothing (`output_folders` makes missing folders when writing); raises
    OutputPathError."""
    if not path:
        raise OutputPathError(f"{flag} is required ({either(extensions)})")
    if os.path.isdir(path):
        raise OutputPathError(f"{flag} '{path}' is a directory; give a file name ending in "
                              f"{either(extensions)}")
    extension = os.path.splitext(path)[1].lower()
    if extension not in extensions:
        raise OutputPathError(f"{flag} must end in {either(extensions)}, got '{path}'")
    check_writable(path, os.path.dirname(os.path.abspath(path)), flag)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OutputPathError(f"{flag} '{path}': the file exists and cannot be written "
                              "(permission denied); choose another path")
    return extension


def check_output_folder(path: str, flag: str = "--output", empty: bool = False) -> None:
    """Checks that folder `path` can be made, or written in when it exists (with `empty`:
    that it is new or empty). Creates nothing; raises OutputPathError."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputPathError(f"{flag} '{path}' is a file, not a directory; choose a directory "
                              "(a missing one is made)")
    if empty and os.path.isdir(path) and os.listdir(path):
        raise OutputPathError(f"{flag} '{path}' already exists and is not an empty directory; "
                              "choose a new one or remove it")
    check_writable(path, os.path.abspath(path), flag)


def check_writable(path: str, folder: str, flag: str) -> None:
    """`folder`, or its nearest existing ancestor when it is missing, takes new files: tried
    with a nameless temporary file, which os.access would pass on /proc as root."""
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise OutputPathError(f"{flag} '{path}' cannot be created: '{folder}' is a file, not a "
                              "directory; choose another path")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise OutputPathError(f"{flag} '{path}': cannot create files in folder '{folder}' "
                              f"({e.strerror}); choose another path") from None


@contextlib.contextmanager
def output_folders(path: str):
    """Makes the missing folders output `path` goes in for the writing in the body, and
    removes them again when it fails: a failed command leaves no new folder."""
    folder, missing = os.path.dirname(os.path.abspath(path)), []
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    if missing:
        os.makedirs(missing[0])
    try:
        yield
    except BaseException:
        for made in missing:  # Deepest first; one that is not empty stays.
            with contextlib.suppress(OSError):
                os.rmdir(made)
        raise
