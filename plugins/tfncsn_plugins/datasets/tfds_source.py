"""Reading prepared tensorflow-datasets data without ever downloading.

`tfds.load` would download a dataset it does not find; here only
`builder.as_dataset` is called, which reads local files or fails at once, and
the failure becomes a one-line `DataNotFoundError` saying how to prepare the
data on a connected machine.
"""

from __future__ import annotations

import tensorflow as tf

from tfncsn.interfaces import DataNotFoundError


class TfdsDataMissing(DataNotFoundError):
    """No prepared TFDS data; `path` is where tfds looked, `hint` how to fix it."""

    def __init__(self, name: str, path: str):
        self.name, self.path = name, path
        self.hint = (f"prepare it on a connected machine with `tfds build {name}` and copy "
                     f"~/tensorflow_datasets/{name} into the data dir on this one "
                     f"(the default or --data_dir)")
        super().__init__(f"{name}: no prepared TFDS data at {path}; {self.hint}")


def tfds_examples(name: str, split: str, data_dir: str | None) -> tf.data.Dataset:
    """Examples (dicts of features) of TFDS dataset `name`, read in a fixed order."""
    import tensorflow_datasets as tfds  # Lazy: heavy, and only these plugins need it.

    builder = tfds.builder(name, data_dir=data_dir)
    try:
        return builder.as_dataset(split=split, shuffle_files=False)
    except AssertionError:  # tfds' "could not find data in ..." when nothing is prepared.
        raise TfdsDataMissing(name, builder.data_dir) from None
