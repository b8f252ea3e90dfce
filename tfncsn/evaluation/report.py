"""The human-readable side of `tfncsn evaluate`: Markdown beside the JSON, console lines.

Both read the JSON report dict only, so a report can be re-rendered from its file:
`markdown(json.load(open("report.json")))`.
"""

from __future__ import annotations

from typing import Any


def _f(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


def _kid(section: dict[str, Any]) -> str:
    return f"{section['kid']['mean']:.4g} ± {section['kid']['std']:.2g}"


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _noise(report: dict[str, Any]) -> str:
    """What the run's noise is: NCSN's levels, the SDE it was trained on, or EDM's training."""
    edm = report.get("preconditioning")
    if edm:
        sigmas = report["sigmas"]
        return (f"EDM's preconditioned denoiser (sigma_data {edm['sigma_data']:g}) trained at "
                f"ln sigma ~ N({edm['p_mean']:g}, {edm['p_std']:g}^2), sampled from sigma "
                f"{sigmas[0]:.4g} to {sigmas[-1]:.4g}")
    sde = report.get("sde")
    if sde:
        return (f"trained in continuous time on the {sde['name']} SDE, t ~ U({sde['train_eps']:g}, "
                "1)")
    sigmas = report["sigmas"]
    return f"{len(sigmas)} noise levels {sigmas[0]:.4g} → {sigmas[-1]:.4g}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _image(report: dict[str, Any], name: str, alt: str) -> list[str]:
    file = report.get("files", {}).get(name)
    return [f"![{alt}]({file})", ""] if file else []


def _skipped(report: dict[str, Any], name: str) -> list[str]:
    reason = report.get("skipped", {}).get(name)
    return [f"Skipped: {reason}.", ""] if reason else []


def _shown(report: dict[str, Any], name: str) -> bool:
    """Whether metric `name` has a section: it ran, or was skipped with a reason."""
    key = {"heldout": "heldout_dsm"}.get(name, name)
    return key in report or name in report.get("skipped", {})


def markdown(report: dict[str, Any]) -> str:
    n = report["num_samples"]
    sampler = report["sampler"]
    lines = [f"# tfncsn evaluation: {report['dataset']}, {report['model']} "
             f"({report['score']})", ""]
    if report.get("workdir"):
        lines += [f"Run: `{report['workdir']}`.", ""]
    if n == 0:
        lines += [f"No samples (only the held-out loss or likelihood was asked for); "
                  f"{_noise(report)}.", ""]
    else:
        if not report.get("samples_file"):
            options = sampler.get("options", {k: v for k, v in sampler.items() if k != "name"})
            settings = ", ".join(f"{k} {v}" for k, v in sorted(options.items())) or "defaults"
            origin = f"from the {sampler['name']} sampler ({settings}), seed {report['seed']}"
        else:
            origin = f"read from `{report['samples_file']}`"
        lines += [f"**{n} samples** {origin}; {_noise(report)}.", "",
                  f"FID is biased upward with few samples (the paper's numbers use 50,000): "
                  f"compare runs only at the same sample count ({n} here). The *real test "
                  "images* row gives each metric for as many held-out real images: the floor "
                  "at this count.", ""]
        lines += ["## Samples", ""] + _image(report, "samples", "samples")
    if report.get("summary"):
        lines += [f"Dataset summary of the samples: {report['summary']}.", ""]
    if "states" in report.get("files", {}):
        every = (f"every {_ordinal(report['keep_every'])} state of the sampler"
                 if report.get("keep_every") else "the saved states of the sampler")
        lines += ["## Intermediate states", "",
                  f"Each row one sample, left to right {every} from the prior, then the final "
                  "sample (paper Fig. 4).", ""]
        lines += _image(report, "states", "intermediate states")

    if _shown(report, "offline"):
        lines += ["## Offline metrics (feature space of a small classifier)", ""]
    lines += _skipped(report, "offline")
    if "offline" in report:
        off = report["offline"]
        c = off["classifier"]
        lines += [f"Classifier `{c['architecture']}` ({c['feature_dim']}-d features), test "
                  f"accuracy {c['test_accuracy']:.2%}, stored in `{c['path']}`. Reference: "
                  f"{off['reference']['num_examples']} {off['reference']['split']} images.", ""]
        rows = []
        for label, key in (("samples", "samples"), ("real test images", "real_test_images")):
            s = off[key]
            count = s.get("num_examples", n)
            rows.append([f"{label} ({count})", _f(s["fid"]), _kid(s), _f(s["precision"], 3),
                         _f(s["recall"], 3), _f(s["density"], 3), _f(s["coverage"], 3)])
        lines += _table(["set", "FID", "KID", "precision", "recall", "density", "coverage"],
                        rows) + [""]
        lines += [f"k-NN precision/recall with k = {off['samples']['k']}, density/coverage with "
                  f"k = {off['samples']['density_k']}; KID over "
                  f"{off['samples']['kid']['num_subsets']} subsets of "
                  f"{off['samples']['kid']['subset_size']}. Classifier score (Inception Score "
                  f"of its predictions): {_f(off['classifier_score'])}.", ""]
        hist = off["class_histogram"]
        lines += ["Predicted classes of the samples:", ""]
        lines += _table(["class", "samples", "training set"],
                        [[str(k), f"{a:.1%}", f"{b:.1%}"] for k, (a, b) in enumerate(
                            zip(hist["fractions"], hist["reference_fractions"]))]) + [""]
        lines += [f"Class mix: total variation distance {hist['total_variation']:.3f} from the "
                  "training set's (the fraction of samples that would have to change class; "
                  "0 is the data's own mix); a skewed mix raises FID however good each sample "
                  "is.", ""]

    if _shown(report, "inception"):
        lines += ["## Inception-v3 FID and Inception Score", ""]
    lines += _skipped(report, "inception")
    if "inception" in report:
        inc = report["inception"]
        ref = inc["reference"]
        count = f" ({ref['num_examples']} images)" if ref.get("num_examples") else ""
        lines += _table(["FID", "Inception Score", "samples"],
                        [[_f(inc["fid"]), f"{inc['inception_score']['mean']:.4g} ± "
                          f"{inc['inception_score']['std']:.2g} ({inc['inception_score']['splits']}"
                          " splits)", str(inc["num_samples"])]]) + [""]
        lines += [f"Reference statistics: `{ref['stats']}`{count}. Weights: `{inc['weights']}`. "
                  f"Protocol: {inc['protocol']}.", ""]

    if _shown(report, "heldout"):
        lines += ["## Held-out denoising score-matching loss", ""]
    if "heldout_dsm" in report:
        h = report["heldout_dsm"]
        lines += [f"**{h['total']:.5g}** on {h['num_examples']} {h['split']} examples, each at "
                  f"every level, fixed noise seed {h['seed']} ({h['weighting']}). Lower is "
                  "better; comparable between models with the same sigmas and seed "
                  "(paper section 4.2)."
                  + (f" Examples: {h['examples']}." if "examples" in h else ""), ""]
        noise, values = ("t", h["times"]) if "times" in h else ("sigma", h["sigmas"])
        lines += _table(["level", noise, "loss", "± s.e."],
                        [[str(i), _f(s), _f(v, 5), _f(e, 2)] for i, (s, v, e) in enumerate(
                            zip(values, h["per_level"], h["per_level_sem"]))]) + [""]
    lines += _skipped(report, "heldout")

    if _shown(report, "likelihood"):
        lines += ["## Likelihood (probability-flow ODE)", ""]
    lines += _skipped(report, "likelihood")
    if "likelihood" in report:
        lk = report["likelihood"]
        probes = ("the exact trace" if lk["probe"] == "exact" else
                  f"{lk['num_probes']} {lk['probe']} Hutchinson probe(s) per example")
        lines += [f"**{lk['bits_per_dim']:.4f} ± {lk['bits_per_dim_sem']:.2g} bits/dim** "
                  f"(NLL {lk['nll_nats']:.5g} ± {lk['nll_nats_sem']:.2g} nats per example, "
                  f"D = {lk['dims']}) on {lk['num_examples']} {lk['split']} examples, ± one "
                  f"standard error over examples. ODE from sigma {lk['sigma_min']:.4g} to "
                  f"{lk['sigma_max']:.4g} with RK45 (rtol {lk['rtol']:g}, atol {lk['atol']:g}), "
                  f"{probes}, seed {lk['seed']}; {lk['score_evals_mean']:.0f} score evaluations "
                  f"per example on average (batched calls per batch: "
                  f"{', '.join(str(e) for e in lk['score_evals_batches'])}). Dequantisation: "
                  f"{lk['dequantization']}; model space: {lk['model_space']}"
                  + ("; between its trained levels the score of the nearest one"
                     if lk.get("levels") == "nearest" else "")
                  + " (docs/algorithms.md#likelihood).", ""]

    if _shown(report, "neighbours"):
        lines += ["## Nearest training images", ""]
    lines += _skipped(report, "neighbours")
    if "neighbours" in report:
        nb = report["neighbours"]
        lines += [f"Each row: a sample, then its {nb['k']} nearest {nb['split']} images by "
                  f"{nb['metric']} distance (paper Appendix C.2). Distance to the nearest: "
                  + ", ".join(_f(d[0], 3) for d in nb["distances"]) + ".", ""]
        lines += _image(report, "neighbours", "nearest neighbours")

    lines += ["## Timings", ""]
    lines += _table(["step", "seconds"],
                    [[k, f"{v:.1f}"] for k, v in report.get("timings_s", {}).items()]) + [""]
    return "\n".join(lines)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A few lines for the console: the headline number of each metric."""
    n = report["num_samples"]
    lines = []
    if "offline" in report:
        off = report["offline"]
        s, r = off["samples"], off["real_test_images"]
        lines.append(f"offline ({n} samples): FID {_f(s['fid'])}, KID {_f(s['kid']['mean'])}, "
                     f"precision {s['precision']:.3f}, recall {s['recall']:.3f}, density "
                     f"{s['density']:.3f}, coverage {s['coverage']:.3f}, class mix off by "
                     f"{off['class_histogram']['total_variation']:.3f}; "
                     f"{r['num_examples']} real test images: FID {_f(r['fid'])}; classifier "
                     f"test accuracy {off['classifier']['test_accuracy']:.3f}")
    if "inception" in report:
        inc = report["inception"]
        lines.append(f"inception ({n} samples): FID {_f(inc['fid'])}, IS "
                     f"{inc['inception_score']['mean']:.3f} ± {inc['inception_score']['std']:.3f}")
    if "heldout_dsm" in report:
        h = report["heldout_dsm"]
        lines.append(f"held-out DSM loss {h['total']:.5g} ({h['num_examples']} test examples x "
                     f"{len(h['per_level'])} levels, seed {h['seed']})")
    if "likelihood" in report:
        lk = report["likelihood"]
        lines.append(f"likelihood: {lk['bits_per_dim']:.4f} ± {lk['bits_per_dim_sem']:.2g} "
                     f"bits/dim ({lk['num_examples']} test examples, "
                     f"{lk['score_evals_mean']:.0f} score evaluations each)")
    for name, reason in report.get("skipped", {}).items():
        lines.append(f"{name}: skipped: {reason}")
    return lines
