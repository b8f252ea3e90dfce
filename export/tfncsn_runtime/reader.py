"""The reader library: an export's metadata and ONNX sessions, and its step programs looped.

`load(path)` gives an `Export` whose `sample(...)` and `inpaint(...)` loop the exported step
program of any sampler (NAME_step.onnx, then NAME_finish.onnx when there is one) as
metadata.json describes it; `sample(..., program=NAME)` picks one of the export's sample
programs (`sample_programs()`, named by `tfncsn_runtime.programs`). They take a noise source (anything with `normal(shape)` and
`uniform(shape, low, high)`; `NumpyNoise` by default), so a caller can replay exactly the
noise another implementation used. NumPy and ONNX Runtime only; the contract is in
docs/export.md.
"""

from __future__ import annotations

import json
import os

import numpy as np

from tfncsn_runtime import programs
from tfncsn_runtime.noise import noise_shape, standard_draws, step_noise

FORMAT = "tfncsn.score/2"
REQUIRED_KEYS = ("format", "element_shape", "sigmas", "sampler", "programs", "prior_range",
                 "postprocess")
METADATA_FILE = "metadata.json"
SCORE_FILE = "model.onnx"
FEED_LIMIT_BYTES = 1 << 30  # The per-step feed (state + noise + inputs) of one batch.


class SampleError(Exception):
    """Bad input or an export this reader cannot use; reported as one line."""


# ----------------------------------------------------------------------------- the export


def export_directory(path: str) -> str:
    """The export directory from --model: the directory itself or any file inside it."""
    if os.path.isdir(path):
        return path
    if os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path))
    raise SampleError(f"--model '{path}' does not exist; give the directory `tfncsn export` "
                      "wrote (or a file in it)")


def check_metadata(meta: dict, where: str) -> dict:
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if meta.get("postprocess") == "inverse_logit" and "logit_lambda" not in meta:
        missing.append("logit_lambda")  # The logit transform's lambda (tfncsn.data.preprocessing).
    if missing:
        raise SampleError(f"{where} lacks the tfncsn metadata {', '.join(missing)}; write "
                          "exports with `tfncsn export` (this script reads format "
                          f"{FORMAT!r})")
    if meta["format"] != FORMAT:
        raise SampleError(f"{where} has format {meta['format']!r}; this script reads {FORMAT!r}:"
                          " export again with this tfncsn, or use the script of that version")
    sigmas = np.asarray(meta["sigmas"], np.float64)
    if (sigmas.ndim != 1 or sigmas.size == 0 or np.any(sigmas <= 0)
            or np.any(np.diff(sigmas) >= 0)):
        raise SampleError(f"{where}: sigmas must be positive and strictly decreasing")
    return meta


def read_metadata(directory: str, session_props: dict | None = None) -> dict:
    """metadata.json, or (when it is missing) the JSON values of model.onnx's metadata_props."""
    path = os.path.join(directory, METADATA_FILE)
    if os.path.isfile(path):
        try:
            with open(path) as f:
                return check_metadata(json.load(f), path)
        except json.JSONDecodeError as e:
            raise SampleError(f"'{path}' is not JSON ({e}); export again") from None
    if session_props:
        try:
            meta = {key: json.loads(value) for key, value in session_props.items()}
        except json.JSONDecodeError as e:
            raise SampleError(f"'{directory}/{SCORE_FILE}': metadata is not JSON ({e})") from None
        return check_metadata(meta, f"'{directory}/{SCORE_FILE}'")
    raise SampleError(f"'{directory}' has neither {METADATA_FILE} nor a {SCORE_FILE} with "
                      "tfncsn metadata; give the directory `tfncsn export` wrote")


def open_session(path: str, threads: int = 0):
    try:
        import onnxruntime as ort
    except ImportError:
        raise SampleError("needs ONNX Runtime: pip install onnxruntime") from None
    if not os.path.isfile(path):
        raise SampleError(f"'{path}' is missing from the export; export again")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # Errors only.
    # Idle worker threads sleep instead of spinning between the many small runs of a
    # sampler: on a shared CPU spinning halved the speed.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads > 0:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # InvalidProtobuf, Fail, ...: the file is not a usable model.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SampleError(f"cannot load '{path}' as an ONNX model ({first[:200]})") from None


class Export:
    """An export directory: metadata, the score graph and the step programs.

    Attributes:
      meta: the metadata (docs/export.md).
      element_shape: shape of one sample.
    """

    def __init__(self, path: str, threads: int = 0):
        self.directory = export_directory(path)
        self.threads = threads
        self._sessions: dict = {}
        props = None
        if not os.path.isfile(os.path.join(self.directory, METADATA_FILE)):
            props = self.session(SCORE_FILE).get_modelmeta().custom_metadata_map
        self.meta = read_metadata(self.directory, props)
        self.element_shape = tuple(int(d) for d in self.meta["element_shape"])
        self.num_levels = len(self.meta["sigmas"])

    def session(self, filename: str):
        if filename not in self._sessions:
            self._sessions[filename] = open_session(os.path.join(self.directory, filename),
                                                    self.threads)
        return self._sessions[filename]

    def score(self, x: np.ndarray, level: np.ndarray, graph: str = SCORE_FILE) -> np.ndarray:
        """s(x, sigma_level): x float32 [N, *shape], level int32 [N] in [0, L) (0 = largest).

        `graph` may name the float16 score network (metadata `float16`) instead of model.onnx.
        """
        networks = [SCORE_FILE] + ([self.meta["float16"]["graph"]] if "float16" in self.meta
                                   else [])
        if graph not in networks:
            raise SampleError(f"'{graph}' is not a score network of this export (it has "
                              f"{', '.join(networks)}); export with --export_float16 for a "
                              "float16 one")
        x, level = np.asarray(x, np.float32), np.asarray(level)
        if x.ndim != 1 + len(self.element_shape) or x.shape[1:] != self.element_shape \
                or x.shape[0] == 0:
            raise SampleError(f"x has shape {x.shape}; the model needs [N >= 1, "
                              f"{', '.join(map(str, self.element_shape))}]")
        if level.shape != (x.shape[0],) or not np.issubdtype(level.dtype, np.integer) \
                or level.min() < 0 or level.max() >= self.num_levels:
            raise SampleError(f"level must be {x.shape[0]} integers in [0, {self.num_levels}); "
                              f"got shape {level.shape}, values {np.unique(level)[:5].tolist()}")
        return self.session(graph).run(["score"], {"x": x, "level": level.astype(np.int32)})[0]

    def program(self, name: str) -> "Program":
        entries = self.meta["programs"]
        if name not in entries:
            raise SampleError(f"the export has no {name} program (it has "
                              f"{', '.join(entries)}); its sampler "
                              f"{self.meta['sampler']['name']!r} does not support it")
        return Program(self, entries[name])

    def sample_programs(self) -> dict[str, dict]:
        """{name: metadata entry} of the export's sample programs, `sample` first; each entry
        names its `sampler` ({"name", "options"}) and has `num_steps`, `score_evaluations`."""
        return programs.sample_programs(self.meta)

    def sample_program(self, name: str = programs.DEFAULT) -> "Program":
        """The sample program `name`; an unknown name is a `SampleError` listing them."""
        available = self.sample_programs()
        if name not in available:
            listed = ", ".join(programs.summary(n, e) for n, e in available.items())
            raise SampleError(f"the export has no sample program {name!r} (--program); it has "
                              f"{listed} (`tfncsn export --extra_samplers` adds more)")
        return Program(self, available[name])

    def sample(self, num_samples: int, rng, *, batch_size: int = 256, progress=None,
               program: str = programs.DEFAULT) -> np.ndarray:
        """num_samples samples with the sample program `program` (the exported sampler by
        default), batch after batch."""
        chosen = self.sample_program(program)
        out = []
        for start in range(0, num_samples, batch_size):
            out.append(chosen.run(min(batch_size, num_samples - start), rng, progress=progress))
        return np.concatenate(out)

    def inpaint(self, y: np.ndarray, mask: np.ndarray, rng, *, batch_size: int = 256,
                progress=None) -> np.ndarray:
        """Fills y [M, *shape] (model space) where mask == 0, keeping it where mask == 1."""
        program = self.program("inpaint")
        y = np.asarray(y, np.float32)
        mask = np.broadcast_to(np.asarray(mask, np.float32), y.shape)
        out = []
        for start in range(0, len(y), batch_size):
            end = min(start + batch_size, len(y))
            out.append(program.run(end - start, rng, inputs={"y": y[start:end],
                                                             "mask": mask[start:end]},
                                   progress=progress))
        return np.concatenate(out)


# ----------------------------------------------------------------------------- step programs


class Program:
    """One exported step program: loops NAME_step.onnx, then NAME_finish.onnx if any.

    The draws follow the exporting sampler's order (docs/export.md): x from the
    prior, then per step k each noise entry in order, drawn when k % every == 0
    and zeros otherwise (tfncsn_runtime.noise). Nothing here knows any sampler's maths.
    """

    def __init__(self, export: Export, spec: dict):
        self.export, self.spec = export, spec
        self.num_steps = int(spec["num_steps"])
        self.step_session = export.session(spec["step"])
        self.finish_session = export.session(spec["finish"]) if spec.get("finish") else None
        self.outputs = [f"next_{s['name']}" for s in spec["state"]]

    def shape(self, per: str, batch: int) -> tuple:
        return noise_shape(per, batch, self.export.element_shape)

    def feed_bytes(self, batch: int) -> int:
        entries = list(self.spec["state"]) + list(self.spec["noise"]) + [
            {"per": "element"} for _ in self.spec.get("inputs", [])]
        return 4 * sum(int(np.prod(self.shape(e["per"], batch))) for e in entries)

    def initial_state(self, batch: int, rng) -> dict:
        prior = self.spec["prior"]
        state = {}
        for entry in self.spec["state"]:
            shape = self.shape(entry["per"], batch)
            if entry["name"] != "x":
                state[entry["name"]] = np.zeros(shape, np.float32)
            elif prior["kind"] == "uniform":
                state["x"] = rng.uniform(shape, prior["low"], prior["high"])
            else:
                state["x"] = (np.float32(prior["std"]) * rng.normal(shape)).astype(np.float32)
        return state

    def noise(self, k: int, batch: int, rng) -> dict:
        """The noise feeds of step k ({input: array}), drawn from the noise source `rng`."""
        entries = self.spec["noise"]
        arrays = step_noise(entries, k, batch, self.export.element_shape, standard_draws(rng))
        return {entry["input"]: array for entry, array in zip(entries, arrays)}

    def run(self, batch: int, rng, *, inputs: dict | None = None, progress=None,
            state: dict | None = None) -> np.ndarray:
        """The samples of one batch (`state`: start from it instead of the prior)."""
        if self.feed_bytes(batch) > FEED_LIMIT_BYTES:
            raise SampleError(f"a batch of {batch} needs {self.feed_bytes(batch) / 2**30:.1f} "
                              f"GiB per step; lower --batch_size")
        inputs = {name: np.asarray(inputs[name], np.float32)
                  for name in self.spec.get("inputs", [])} if inputs else {}
        state = dict(state) if state is not None else self.initial_state(batch, rng)
        for k in range(self.num_steps):
            feeds = {**state, "k": np.array(k, np.int32), **self.noise(k, batch, rng), **inputs}
            values = self.step_session.run(self.outputs, feeds)
            state = {s["name"]: v for s, v in zip(self.spec["state"], values)}
            if progress is not None:
                progress.advance(1)
        if self.finish_session is None:
            return state["x"]
        return self.finish_session.run(["samples"], {**state, **inputs})[0]


def load(path: str, threads: int = 0) -> Export:
    """The export at `path` (its directory or a file in it)."""
    return Export(path, threads)
