"""`tfncsn export`: a trained run as SavedModel and ONNX with its sampler settings (SPEC 10)."""

from __future__ import annotations

import dataclasses
import sys

from tfncsn import builders, config as run_config, training
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError
from tfncsn.export import exporter, metadata, verify


def run() -> None:
    if not FLAGS.workdir:
        raise ConfigError("--workdir is required: the trained run to export")
    if not FLAGS.output:
        raise ConfigError("--output is required: the directory to write the export to")
    if FLAGS.verify_atol < 0 or FLAGS.verify_rtol < 0:
        raise ConfigError("--verify_atol and --verify_rtol must be >= 0")
    saved = run_config.load(FLAGS.workdir)
    # Only the sampler's settings may differ from the run's (e.g. --steps_per_level=50).
    config = dataclasses.replace(saved, sampler=common.config_from_flags(saved).sampler)
    dataset = builders.make_dataset(config.dataset, config.dataset_options, FLAGS.data_dir)
    sigmas = builders.make_sigmas(config.sigmas).numpy()
    model = builders.make_model(config.model, config.model_options, dataset.element_shape, sigmas)
    step = training.restore_model(model, FLAGS.workdir)  # The EMA weights when the run has them.
    try:
        postprocess = metadata.postprocess_kind(dataset)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    meta = metadata.for_run(config, dataset.element_shape, dataset.prior_range, postprocess,
                            sigmas, step)
    tolerance = verify.Tolerance(FLAGS.verify_atol, FLAGS.verify_rtol)
    try:
        result = exporter.export(
            model, meta, builders.make_sampler(config.sampler.name), FLAGS.output,
            opset=FLAGS.onnx_opset, sampler_graph=FLAGS.sampler_graph, verify=FLAGS.verify,
            tolerance=tolerance, log=lambda message: print(f"export: {message}", file=sys.stderr))
    except (exporter.ExportError, verify.VerificationError) as e:
        raise ConfigError(str(e)) from e  # Reported as one line by tfncsn.cli.main.
    files = ["saved_model/ (signatures score, sample)", f"model.onnx (opset {FLAGS.onnx_opset})"]
    if not result.notes and FLAGS.sampler_graph:
        files.append("sampler.onnx")
    print(f"wrote {FLAGS.output}: {', '.join(files)}, metadata.json, golden.npz; "
          f"{config.model} at step {step}, sampler {config.sampler.name}")
    for note in result.notes:
        print(f"  {note}")
    if result.comparisons:
        print(f"verified on the golden inputs ({tolerance.describe()}):")
        for comparison in result.comparisons:
            print(f"  {comparison.describe()}")
