"""Runs an evaluation: sample quality, held-out loss and nearest neighbours of a score source.

`evaluate` writes the report (JSON) and beside it NAME.md with NAME_samples.png,
NAME_states.png and NAME_neighbours.png. Which metrics run: `plan`; the data it reads:
`data`; what it keeps between runs: `caches`. See docs/evaluation.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import numpy as np

import tfncsn
from tfncsn import builders, figures
from tfncsn.config import ConfigError
from tfncsn.data.errors import explained
from tfncsn.evaluation import report
from tfncsn.evaluation.caches import inception_reference, offline_classifier
from tfncsn.evaluation.config import DENSITY_K, MIN_SAMPLES, EvalConfig
from tfncsn.evaluation.data import load_split, load_train_pixels, read_samples, subset
from tfncsn.evaluation.plan import Plan, inception_weights, plan_metrics
from tfncsn.metrics import (class_mix, fid, heldout, inception_score, kid, neighbours,
                            precision_recall)
from tfncsn.progress import progress_bar
from tfncsn.sampling import score_source
from tfncsn.sampling.score_source import ScoreSource

NEIGHBOUR_ROWS = 8  # Samples shown in the nearest-neighbour figure (and states strip).
GRID_SAMPLES = 64  # Samples shown in the sample grid.
MIN_TILE = 32  # Figures of smaller images are enlarged to at least this many pixels per image.
IS_SPLITS = 10


class Evaluation:
    """One `tfncsn evaluate` run: the steps in order, each adding a section to `report`."""

    def __init__(self, source: ScoreSource, config: EvalConfig, plan: Plan, output: str,
                 workdir: str | None):
        self.source, self.config, self.plan = source, config, plan
        self.stem = os.path.splitext(output)[0]
        self.output = output
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        config = source.config
        self.report: dict[str, Any] = {
            "tfncsn_version": tfncsn.__version__, "workdir": workdir,
            "dataset": config.dataset, "dataset_options": config.dataset_options,
            "model": config.model, "model_options": config.model_options,
            "score": source.description, "sampler": dataclasses.asdict(config.sampler),
            "sigmas": [float(s) for s in source.sigmas.numpy()],
            "sde": dataclasses.asdict(config.sde) if config.sde.continuous else None,
            "preconditioning": (dataclasses.asdict(config.preconditioning)
                                if config.preconditioning.edm else None),
            "num_samples": 0, "samples_file": None, "seed": self.config.seed,
            "skipped": dict(plan.skipped), "files": {}, "timings_s": {}}
        self.samples: np.ndarray | None = None  # Model space.
        self.pixels: np.ndarray | None = None
        self.network = self.reference_stats = None
        if "inception" in plan.run:  # Before sampling, so a wrong file fails fast.
            self.timed("inception_setup", self._inception_setup)

    def _inception_setup(self) -> None:
        from tfncsn.metrics import inception as inc  # Keras applications: imported on use.
        if self.config.reference_stats:
            try:
                self.reference_stats = fid.load_statistics(self.config.reference_stats,
                                                           inc.POOL_DIM)
            except ValueError as e:
                raise ConfigError(f"reference_stats: {e}") from None
        self.network = inc.load_inception(self.plan.weights)

    def path(self, suffix: str) -> str:
        """NAMEsuffix, beside the JSON."""
        return f"{self.stem}{suffix}"

    def timed(self, name: str, fn, *args):
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.report["timings_s"][name] = round(time.perf_counter() - started, 2)

    # Steps.

    def draw_samples(self) -> None:
        """The samples file, or `num_samples` drawn in batches; states of the first batch only."""
        config = self.config
        if config.samples:
            samples, states = read_samples(config.samples, self.source.dataset.element_shape)
            if states is not None:
                states = states[:, :NEIGHBOUR_ROWS]
            if config.num_samples is not None:
                samples = samples[:config.num_samples]
            self.report["samples_file"] = os.path.abspath(config.samples)
        else:
            samples, states = self.timed("sampling", self._sample, config.num_samples)
            self.report["samples_file"] = None  # Drawn with the run's sampler (and seed).
        if len(samples) < MIN_SAMPLES:
            raise ConfigError(f"need at least {MIN_SAMPLES} samples to evaluate, got "
                              f"{len(samples)}")
        if max(config.precision_recall_k, DENSITY_K) >= len(samples):
            raise ConfigError(f"precision_recall_k={config.precision_recall_k} needs more "
                              f"than that many samples, got {len(samples)}")
        self.samples = samples
        self.report["num_samples"] = len(samples)
        self.report["seed"] = config.seed
        summary = score_source.summarize(self.source.dataset, samples)
        if summary:
            self.report["summary"] = summary  # The dataset's own one-line statistic.
        finite = np.isfinite(samples.reshape(len(samples), -1)).all(axis=1)
        self.report["nonfinite_samples"] = int((~finite).sum())  # A diverged sampler shows here.
        if samples.ndim == 4:
            # Non-finite pixels count as black, as the figures draw them.
            self.pixels = np.nan_to_num(self.source.dataset.to_pixels(samples), nan=0.0)
            grid = figures.image_grid(self.pixels[:GRID_SAMPLES])
            self.save_figure("samples", grid)
            if states is not None and len(states):
                strip = figures.states_strip(self.source.dataset.to_pixels(states),
                                             self.pixels[:states.shape[1]])
                self.save_figure("states", strip)
        elif samples.ndim == 2 and samples.shape[1] == 2:
            panel = figures.scatter_panels([(self.source.description, samples)],
                                           self.source.dataset.prior_range)
            self.save_figure("samples", panel)

    def _sample(self, num_samples: int):
        batch = self.config.eval_batch_size
        program = builders.make_program(self.source.config.sampler, self.source.problem())
        keep_every = self.config.keep_every or max(1, program.num_steps // 10)  # ~10 frames.
        parts, states = [], None
        for index, start in enumerate(range(0, num_samples, batch)):
            seed = int(np.random.SeedSequence([self.config.seed, index]).generate_state(1)[0])
            out = score_source.draw(self.source, min(batch, num_samples - start), seed,
                              keep_every if index == 0 else 0)
            parts.append(out.x.numpy())
            if index == 0 and out.states is not None:
                states = out.states.numpy()[:, :NEIGHBOUR_ROWS]
        self.report["keep_every"] = keep_every
        return np.concatenate(parts), states

    def save_figure(self, name: str, image) -> None:
        """Writes NAME_name.png, small images enlarged (nearest neighbour) to >= 32 pixels."""
        path = self.path(f"_{name}.png")
        height = self.source.dataset.element_shape[0]
        if isinstance(image, np.ndarray) and len(self.source.dataset.element_shape) == 3:
            factor = -(-MIN_TILE // height)
            image = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
        figures.save_png(image, path)
        self.report["files"][name] = os.path.basename(path)

    def heldout(self) -> None:
        dataset = self.source.dataset
        config = self.config
        x = heldout.heldout_examples(dataset, config.heldout_examples, config.heldout_seed)
        if not len(x):
            raise ConfigError(f"dataset '{self.source.config.dataset}' has no test examples "
                              "for the held-out loss; give it a test split or leave out "
                              "heldout from eval_metrics")
        levels = len(self.report["sigmas"])
        continuous = builders.make_continuous_objective(self.source.config)
        score_fn = self.source.score_fn if continuous is None else self.source.sigma_score_fn
        with progress_bar(levels * len(x), "held-out DSM") as bar:
            result = heldout.heldout_dsm_loss(score_fn, x, self.source.sigmas,
                                              seed=config.heldout_seed,
                                              batch_size=config.eval_batch_size,
                                              callback=bar.update, continuous=continuous)
        self.report["heldout_dsm"] = {
            "total": result.total, "per_level": result.per_level.tolist(),
            "per_level_sem": result.per_level_sem.tolist(), "sigmas": self.report["sigmas"],
            "num_examples": result.num_examples, "seed": result.seed, "split": "test",
            "examples": heldout.examples_note(dataset),
            "weighting": "lambda(sigma) = sigma^2; total = mean over levels"}
        if continuous is not None:
            self.report["heldout_dsm"].update(
                sde=continuous.sde.name,
                times=heldout.bin_times(levels, continuous.t_min).tolist(),
                weighting=f"continuous DSM on the {continuous.sde.name} SDE, lambda "
                          f"{continuous.weighting}, at the centres of {levels} time bins; "
                          "total = mean over them")

    def likelihood(self) -> None:
        from tfncsn import likelihood  # SciPy's solver: imported on use.
        dataset, config = self.source.dataset, self.config
        limit = config.likelihood_examples
        x = load_split(self.source, "test", limit)
        levels = None
        log_det = np.zeros(len(x))
        if len(dataset.element_shape) == 3:  # Images: dequantise the pixels, then map back.
            levels = int(getattr(dataset, "levels", 256))
            pixels = likelihood.dequantize(dataset.to_pixels(x), levels, config.likelihood_seed)
            log_det = likelihood.model_space_log_det(dataset.postprocess_kind, pixels)
            x = np.asarray(dataset.to_model_space(pixels), np.float32)
        options = likelihood.ODEOptions(
            probe=config.likelihood_probe, num_probes=config.likelihood_probes,
            rtol=config.likelihood_rtol, atol=config.likelihood_atol, seed=config.likelihood_seed)
        sde, t_min = builders.run_sde(self.source.config, self.report["sigmas"])
        with progress_bar(len(x), "likelihood") as bar:
            def on_evaluation(sigma: float, count: int) -> None:
                bar.set_postfix(sigma=f"{sigma:.4g}", evals=count)

            result = likelihood.negative_log_likelihood(
                likelihood_score(self.source, config), x, sde, options, t_min=t_min,
                log_det=log_det, levels=levels, batch_size=config.eval_batch_size,
                callback=bar.update, on_evaluation=on_evaluation)
        bpd, bpd_sem = result.mean_sem(result.bits_per_dim)
        nll, nll_sem = result.mean_sem(result.nll)
        self.report["likelihood"] = {
            "bits_per_dim": bpd, "bits_per_dim_sem": bpd_sem, "nll_nats": nll,
            "nll_nats_sem": nll_sem, "num_examples": len(x), "split": "test", "dims": result.dims,
            "score_evals_mean": float(np.mean(result.score_evals)),
            "score_evals_batches": list(result.batch_score_evals),
            "dequantization": (f"uniform, {levels} levels: D log {levels} added"
                               if levels else "none (continuous data)"),
            "model_space": dataset.postprocess_kind, "levels": config.likelihood_levels,
            "probe": options.probe, "num_probes": 1 if options.probe == "exact" else
            options.num_probes, "rtol": options.rtol, "atol": options.atol,
            "seed": options.seed, "sde": sde.name, "t_min": t_min,
            "sigma_min": float(sde.sigma_grid([t_min])[0]),
            "sigma_max": float(sde.sigma_grid([1.0])[0]),
            "per_example_bits_per_dim": result.bits_per_dim.tolist(),
            "per_example_score_evals": result.score_evals.tolist()}

    def offline(self) -> None:
        from tfncsn.metrics import feature_classifier as clf  # Keras models: imported on use.
        train_x, train_y = load_split(self.source, "train", labelled=True)
        test_x, test_y = load_split(self.source, "test", labelled=True)
        model, info = self.timed("offline_classifier", offline_classifier, self.source,
                                 self.config.resolved_cache_dir(), train_x, train_y, test_x,
                                 test_y)
        limit = self.config.reference_examples
        reference = train_x[:limit] if limit > 0 else train_x  # As the Inception reference.

        def outputs(images):
            return clf.classifier_outputs(model, images, self.config.eval_batch_size,
                                          info["feature_scale"])

        ref_features, _ = outputs(reference)
        fake_features, fake_logits = outputs(self.pixels)
        n = len(fake_features)
        real = test_x[subset(len(test_x), n)]  # Held-out real images: the small-sample floor.
        real_features, _ = outputs(real)
        self.report["offline"] = {
            "classifier": {"path": info["path"], "test_accuracy": info["test_accuracy"],
                           "architecture": info["architecture"],
                           "feature_dim": int(ref_features.shape[1]),
                           "trained_now": info["trained_now"]},
            "reference": {"split": "train", "num_examples": len(reference)},
            "samples": self.quality(ref_features, fake_features),
            "real_test_images": {"num_examples": len(real),
                                 **self.quality(ref_features, real_features)},
            "classifier_score": inception_score.inception_score(
                fake_logits, min(IS_SPLITS, n))[0],
            "class_histogram": class_mix.class_mix(np.argmax(fake_logits, axis=1), train_y,
                                                   info["num_classes"]),
        }

    def quality(self, reference: np.ndarray, features: np.ndarray) -> dict[str, Any]:
        """FID, KID, precision/recall and density/coverage against the reference features.

        The k-NN metrics compare with as many reference examples as there are features.
        """
        same_size = reference[subset(len(reference), len(features))]
        pr = precision_recall.precision_recall(same_size, features,
                                               self.config.precision_recall_k)
        dc = precision_recall.density_coverage(same_size, features, DENSITY_K)
        kid_result = kid.kernel_inception_distance(reference, features)
        return {"fid": fid.fid_from_features(reference, features),
                "kid": {"mean": kid_result.mean, "std": kid_result.std,
                        "subset_size": kid_result.subset_size,
                        "num_subsets": kid_result.num_subsets},
                "precision": pr.precision, "recall": pr.recall, "k": pr.k,
                "density": dc.density, "coverage": dc.coverage, "density_k": dc.k}

    def inception(self) -> None:
        if self.reference_stats is not None:
            mu, sigma = self.reference_stats
            reference = {"stats": os.path.abspath(self.config.reference_stats), "given": True}
        else:
            mu, sigma, reference = self.timed("inception_reference", inception_reference,
                                              self.source, self.config, self.plan.weights,
                                              self.network)
        with progress_bar(len(self.pixels), "Inception") as bar:
            pool, logits = self.network(self.pixels, callback=bar.update)
        splits = min(IS_SPLITS, len(logits))
        is_mean, is_std = inception_score.inception_score(logits, splits)
        self.report["inception"] = {
            "fid": fid.frechet_distance(mu, sigma, *fid.feature_statistics(pool)),
            "inception_score": {"mean": is_mean, "std": is_std, "splits": splits},
            "num_samples": len(pool), "weights": os.path.abspath(self.plan.weights),
            "reference": reference,
            "protocol": "uint8 quantisation, grayscale repeated to RGB, bilinear resize to "
                        "299x299 (tf.image.resize, no antialias), scaled to [-1, 1]; "
                        "avg_pool features (2048-d) for FID, logits for IS"}

    def neighbours(self) -> None:
        train = load_train_pixels(self.source)
        queries = self.pixels[:NEIGHBOUR_ROWS]
        k = min(self.config.neighbours_k, len(train))
        found = neighbours.nearest_neighbours(queries, train, k)
        rows = neighbours.neighbours_rows(queries, train, found.indices)
        self.save_figure("neighbours", figures.image_grid(rows, columns=k + 2))
        self.report["neighbours"] = {"k": k, "split": "train", "metric": "pixel L2",
                                     "train_indices": found.indices.tolist(),
                                     "distances": found.distances.tolist()}

    def write(self) -> None:
        md_path = self.path(".md")
        self.report["files"]["markdown"] = os.path.basename(md_path)
        with open(md_path, "w") as f:
            f.write(report.markdown(self.report))
        tmp = self.output + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.report, f, indent=2)
        os.replace(tmp, self.output)


def likelihood_score(source: ScoreSource, config: EvalConfig):
    """The s(x, sigma) the likelihood ODE integrates (`--likelihood_levels`), or None when the
    model has no score between its trained levels."""
    if config.likelihood_levels == "nearest":
        return score_source.nearest_level(source.score_fn, source.sigmas)
    return source.sigma_score_fn


def evaluate(source: ScoreSource, config: EvalConfig, output: str,
             workdir: str | None = None) -> dict[str, Any]:
    """Runs the metrics of `config` that apply to the source's dataset and writes the report
    to `output` (.json) with its Markdown and figures beside it; returns the report."""
    plan = plan_metrics(source.dataset, config.metrics, config.explicit,
                        inception_weights(config), likelihood_score(source, config) is not None)
    with explained(source.dataset):  # A file the data pipeline cannot read is named.
        evaluation = Evaluation(source, config, plan, output, workdir)
        # The held-out loss first: sampling leaves the score function compiled for other
        # shapes, which moves its last digits; this way the number does not depend on
        # which other metrics ran.
        later = [name for name in plan.run if name != "heldout"]
        if "heldout" in plan.run:
            evaluation.timed("heldout", evaluation.heldout)
        if config.needs_samples:
            evaluation.draw_samples()
        for name in later:
            evaluation.timed(name, getattr(evaluation, name))
    evaluation.write()
    return evaluation.report
