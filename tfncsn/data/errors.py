"""One-line errors for inputs a `tf.data` pipeline could not read.

TensorFlow reports a bad example from inside a pipeline as "Graph execution
error" without saying which input it was; a dataset that can find it offers
`explain_error(error) -> str | None`, and `explained(dataset)` turns the error
into a `DataError` carrying that line.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf


class DataError(ValueError):
    """An input of a dataset cannot be read; the message names it and says how to fix it."""


@contextlib.contextmanager
def explained(dataset):
    """Re-raises TensorFlow errors as `DataError` when `dataset.explain_error` names the input."""
    try:
        yield
    except tf.errors.OpError as e:
        message = dataset.explain_error(e)
        if not message:
            raise
        raise DataError(message) from e
