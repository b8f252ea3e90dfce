"""`tfncsn export`: a trained run as SavedModel and ONNX graphs with its sampler (docs/export.md)."""

from __future__ import annotations

import dataclasses
import re
import sys

from tfncsn import config as run_config
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS, parse_options
from tfncsn.config import ConfigError, SamplerConfig
from tfncsn_runtime import programs

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("workdir", "output", "data_dir", "checkpoint_step", "verify", "verify_atol",
              "verify_rtol", "onnx_opset", "export_inpainting", "export_float16",
              "float16_rtol", "extra_samplers", common.SAMPLER_SETTINGS)
# Splits NAME:key=value,key=value at the commas that start a new key=, so JSON values keep
# theirs (ode:solver="euler",num_steps=10; a list such as [1,2] stays whole).
_OPTION_SEPARATOR = re.compile(r",(?=\s*[A-Za-z_]\w*\s*=)")


def extra_sampler_configs(values: list[str]) -> list[SamplerConfig]:
    """--extra_samplers, each NAME or NAME:key=value,key=value, as sampler configs (the
    options are checked when the samplers are built)."""
    configs = []
    for value in values:
        name, _, options = value.partition(":")
        if not name.strip():
            raise ConfigError(f"--extra_samplers={value}: give a sampler name, as NAME or "
                              "NAME:key=value,key=value")
        try:
            parsed = parse_options(_OPTION_SEPARATOR.split(options) if options else [],
                                   "extra_samplers")
        except ValueError as e:
            raise ConfigError(f"--extra_samplers={value}: {e}") from None
        configs.append(SamplerConfig(name=name.strip(), options=parsed))
    return configs


def run() -> None:
    if not FLAGS.workdir:
        raise ConfigError("--workdir is required: the trained run to export")
    if not FLAGS.output:
        raise ConfigError("--output is required: the directory to write the export to")
    common.check_output_folder(FLAGS.output, empty=True)
    if FLAGS.verify_atol < 0 or FLAGS.verify_rtol < 0:
        raise ConfigError("--verify_atol and --verify_rtol must be >= 0")
    if FLAGS.float16_rtol is not None and not FLAGS.export_float16:
        raise ConfigError("--float16_rtol is the tolerance of --export_float16; add "
                          "--export_float16 or drop it")
    if FLAGS.float16_rtol is not None and FLAGS.float16_rtol < 0:
        raise ConfigError("--float16_rtol must be >= 0")
    extra_configs = extra_sampler_configs(FLAGS.extra_samplers)
    saved = run_config.load(FLAGS.workdir)
    common.start_tensorflow()  # Only now, with the flags known to be good.
    from tfncsn import builders, training
    from tfncsn.sampling.stand_in import check_with_stand_in
    from tfncsn.sampling.score_source import ScoreSource
    from tfncsn_export import exporter, float16, metadata, verify
    # Only the sampler may differ from the run's (e.g. --sampler=pc or --steps_per_level=50).
    config = dataclasses.replace(saved, sampler=common.sampler_from_flags(saved.sampler))
    dataset = builders.make_dataset(config.dataset, config.dataset_options, FLAGS.data_dir)
    sigmas = builders.make_sigmas(config.sigmas)
    # float32 whatever the run's precision: the weights are float32 in every policy.
    model = builders.make_model(config.model, config.model_options, dataset.element_shape,
                                sigmas.numpy(), preconditioning=config.preconditioning)
    source = ScoreSource.for_model(config, dataset, sigmas, model, "export")
    program = source.program()  # Options and contract checked before any work,
    check_with_stand_in(program, 1)  # and the steps, without tracing the network.
    extras = [extra_sampler(source, extra, value)
              for extra, value in zip(extra_configs, FLAGS.extra_samplers)]
    try:
        exporter.program_names(extras)
    except exporter.ExportError as e:
        raise ConfigError(f"--extra_samplers: {e}") from None
    # The EMA weights when the run has them.
    step = training.restore_model(model, FLAGS.workdir, checkpoint_step=FLAGS.checkpoint_step)
    try:
        postprocess = metadata.postprocess_kind(dataset)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    meta = metadata.for_run(config, dataset.element_shape, dataset.prior_range, postprocess,
                            sigmas.numpy(), step, program)
    tolerance = verify.Tolerance(FLAGS.verify_atol, FLAGS.verify_rtol)
    float16_tolerance = None
    if FLAGS.export_float16:
        float16_tolerance = float16.TOLERANCE
        if FLAGS.float16_rtol is not None:
            float16_tolerance = dataclasses.replace(float16_tolerance, rtol=FLAGS.float16_rtol)
    with common.output_folders(FLAGS.output):  # The export's parent; export() makes the rest.
        result = exporter.export(
            model, meta, program, FLAGS.output, extra_samplers=extras, opset=FLAGS.onnx_opset,
            inpainting=FLAGS.export_inpainting, verify=FLAGS.verify, tolerance=tolerance,
            float16_tolerance=float16_tolerance,
            log=lambda message: print(f"export: {message}", file=sys.stderr))
    graphs = [f for f in result.files if f.endswith(".onnx")]
    print(f"wrote {FLAGS.output}: saved_model/ (signatures score, sample), {', '.join(graphs)} "
          f"(opset {FLAGS.onnx_opset}), metadata.json, a .program.txt per program, golden.npz + "
          f"golden/; {config.model} at "
          f"step {step}, sampler {config.sampler.name} ({program.num_steps} steps, "
          f"{program.score_evaluations} score evaluations)")
    for name, entry in programs.sample_programs(result.meta).items():
        print(f"  program {programs.summary(name, entry)}")
    if not program.supports_conditioning:
        print(f"  no inpaint graphs: sampler {config.sampler.name} does not support conditioning")
    if result.comparisons:
        print(f"verified against TensorFlow ({tolerance.describe()}"
              + (f"; float16: {float16_tolerance.describe()}" if float16_tolerance else "") + "):")
        for comparison in result.comparisons:
            print(f"  {comparison.describe()}")


def extra_sampler(source, config: SamplerConfig, value: str):
    """One --extra_samplers value built for the run's problem and traced with a stand-in
    score (as the main sampler is), its errors named by the flag."""
    from tfncsn.registry import PluginError
    from tfncsn.sampling.contract import SamplerError
    from tfncsn.sampling.stand_in import check_with_stand_in
    from tfncsn_export.exporter import ExtraSampler
    try:
        program = source.program(config)
        check_with_stand_in(program, 1)
    except (ConfigError, PluginError, SamplerError) as e:
        raise ConfigError(f"--extra_samplers={value}: {e}") from None
    return ExtraSampler(config.name, program)
