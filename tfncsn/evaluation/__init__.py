"""Evaluating a trained run: what to measure (`config`), which metrics apply (`plan`), what it
reads (`data`) and keeps between runs (`caches`), doing it (`runner`), the report (`report`).

    from tfncsn import evaluation
    from tfncsn.sampling import score_source
    source = score_source.load(config, workdir)
    report = evaluation.evaluate(source, evaluation.EvalConfig(eval_metrics=("offline",)),
                                 "eval/report.json", workdir=workdir)

The metrics themselves are in `tfncsn.metrics`; docs/evaluation.md explains each.
"""

from tfncsn.evaluation.config import METRICS, EvalConfig

__all__ = ["METRICS", "EvalConfig", "evaluate"]


def __getattr__(name: str):
    """`evaluate` on first use: the runner imports TensorFlow, the config does not."""
    if name == "evaluate":
        from tfncsn.evaluation.runner import evaluate
        return evaluate
    raise AttributeError(f"module 'tfncsn.evaluation' has no attribute '{name}'")
