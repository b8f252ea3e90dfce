"""The settings of a noise-conditional classifier p(y | x, sigma) and its record in a workdir.

`tfncsn train-classifier --workdir=W` trains one into W/classifier/ beside the score model
(the network and its loop: `tfncsn.models.noise_conditional_classifier`); `tfncsn sample --class=K` then
guides the sampler with it (`tfncsn.sampling.conditioning.guided_score`; docs/conditioning.md).
Each `setting` is a flag of the same name with a `classifier_` prefix, derived by
tfncsn/cli/flags.py. No TensorFlow here, so the CLI checks these before loading it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from tfncsn.config import ConfigError, check_settings, refuse_architecture_change, setting

CLASSIFIER_DIR = "classifier"  # W/classifier/: config.json, checkpoints/, train/ summaries.
CONFIG_FILE = "config.json"


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """The classifier's network and optimisation.

    The noise level of each training example is drawn log-uniformly between the score
    model's smallest and largest sigma, so the classifier can be evaluated at any sigma a
    sampler visits (docs/conditioning.md).
    """

    width: int = setting(32, "train-classifier: channels (or units) of each layer of the "
                         "noise-conditional classifier.", minimum=1, flag="classifier_width")
    steps: int = setting(2000, "train-classifier: total steps (a resumed run continues to "
                         "this).", minimum=1, flag="classifier_steps")
    batch_size: int = setting(128, "train-classifier: batch size.", minimum=1,
                              flag="classifier_batch_size")
    learning_rate: float = setting(1e-3, "train-classifier: Adam learning rate.",
                                   minimum=0.0, flag="classifier_learning_rate")
    log_every: int = setting(50, "train-classifier: steps between summaries and progress.",
                             minimum=1, flag="classifier_log_every")
    checkpoint_every: int = setting(500, "train-classifier: steps between checkpoints.",
                                    minimum=1, flag="classifier_checkpoint_every")
    seed: int = setting(0, "train-classifier: seed of the data order, noise and weights.",
                        flag="classifier_seed")

    def __post_init__(self):
        check_settings(self)
        if not self.learning_rate > 0:
            raise ConfigError(f"classifier_learning_rate must be positive, got "
                              f"{self.learning_rate}")

    def architecture(self) -> dict[str, Any]:
        """What must not change when a run resumes."""
        return {"width": self.width}


def directory(workdir: str) -> str:
    return os.path.join(workdir, CLASSIFIER_DIR)


def save(config: ClassifierConfig, workdir: str, num_classes: int,
         sigma_range: tuple[float, float]) -> str:
    """Writes W/classifier/config.json atomically: the settings, the class count and the
    sigma range trained on (what loading the classifier needs)."""
    folder = directory(workdir)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, CONFIG_FILE)
    data = {"config": dataclasses.asdict(config), "num_classes": int(num_classes),
            "sigma_range": [float(s) for s in sigma_range]}
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)
    return path


def load(workdir: str) -> dict[str, Any]:
    """{"config": ClassifierConfig, "num_classes": int, "sigma_range": (low, high)}."""
    path = os.path.join(directory(workdir), CONFIG_FILE)
    if not os.path.exists(path):
        raise ConfigError(f"no classifier in '{workdir}' ({path} is missing); train one with "
                          f"`tfncsn train-classifier --workdir={workdir}`")
    try:
        with open(path) as f:
            data = json.load(f)
        return {"config": ClassifierConfig(**data["config"]),
                "num_classes": int(data["num_classes"]),
                "sigma_range": tuple(float(s) for s in data["sigma_range"])}
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path} is not a classifier record ({e}); retrain into a new "
                          "--workdir") from e


def check_resumable(saved: ClassifierConfig, requested: ClassifierConfig, workdir: str) -> None:
    """Refuses to resume a classifier with a different network."""
    refuse_architecture_change(
        saved, requested, lambda changed, details: (
            f"'{directory(workdir)}' holds a classifier with a different network ({details}); "
            "move it away or keep the setting"), key_prefix="classifier_")
