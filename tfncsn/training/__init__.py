"""Training: the step (`step`), the loop (`loop`) and checkpoints (`checkpoints`).

The names other modules use are imported here, so `from tfncsn import training` gives them.
"""

from tfncsn.training.checkpoints import (CHECKPOINT_DIR, CheckpointError, TrainState,
                                         checkpoint_path, model_weights, restore_model,
                                         restore_or_explain, saved_steps)
from tfncsn.training.loop import (Hooks, SummaryWindow, TrainingDivergedError, TrainResult,
                                  input_pipeline, steps_to_boundary, train)
from tfncsn.training.step import (MOST_STEPS_PER_CALL, StepsPerCall, make_objective,
                                  make_optimizer, make_train_step, needs_loss_scaling,
                                  padded_call_size, split_for_replicas)

__all__ = ["CHECKPOINT_DIR", "MOST_STEPS_PER_CALL", "CheckpointError", "Hooks", "StepsPerCall",
           "SummaryWindow", "TrainResult", "TrainState", "TrainingDivergedError",
           "checkpoint_path", "input_pipeline", "make_objective", "make_optimizer",
           "make_train_step", "model_weights", "needs_loss_scaling", "padded_call_size",
           "restore_model", "restore_or_explain", "saved_steps", "split_for_replicas",
           "steps_to_boundary", "train"]
