"""Flags of `tfncsn evaluate`, derived from the settings of `tfncsn.evaluation.config.EvalConfig`
(docs/evaluation.md). It also reads --workdir, --num_samples, --seed, --output, --data_dir,
--keep_every and the sampler flags of flags.py."""

from __future__ import annotations

from tfncsn.cli.flags import define_setting_flags
from tfncsn.evaluation.config import EvalConfig

define_setting_flags(EvalConfig)
