"""A sampler's step program as ONNX graphs, converted with tf2onnx from the same TensorFlow code.

For a program P (a sampler, or the sampler wrapped in inpainting, in the pixel basis or,
for colorization, in the colour basis) the export writes

    NAME_step.onnx    (state..., k, noise_<name>..., inputs...) -> next_<state>...
    NAME_finish.onnx  (state..., inputs...) -> samples          (only when P has a finish)

with the score network inside, and a description (`describe`) that tells a
runtime how to loop them: K, the state (x from the prior, the rest zeros), the
noise each step draws and when, the extra inputs (y and mask for inpainting and
colorization, with the basis the mask is given in).
docs/export.md has the contract and a loop in a few lines.

The program's own TensorFlow code is converted with a stand-in for the score
(a node of the custom domain `tfncsn.score`); each stand-in is then replaced by
the nodes of the score network, converted once. Converting a CondRefineNet
takes tf2onnx a minute or more (its transpose optimiser), so this keeps an
export with four graphs about as fast as one with the network alone.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import traceback
from typing import Any, Callable

import numpy as np
import onnx
import tensorflow as tf

from tfncsn.interfaces import ScoreFn
from tfncsn.sampling.conditioning import Inpainting
from tfncsn.sampling.contract import Sampler, last_line
from tfncsn_export.metadata import sampler_entry
from tfncsn_runtime import programs

INPAINT_INPUTS = ("y", "mask")  # Inputs of the inpainting graphs, both [N, *element_shape].
BATCH_DIM = "N"
SCORE_DOMAIN = "tfncsn.score"
_STUB_OP = "PyFuncStateless"  # What tf2onnx calls a stateless tf.numpy_function.


def _spec(name: str, per: str, element_shape) -> tf.TensorSpec:
    shape = [None] if per == "example" else [None, *element_shape]
    return tf.TensorSpec(shape, tf.float32, name=name)


class GraphProgram:
    """A program and the TensorFlow functions its graphs are converted from.

    Args:
      sampler: the sampler program.
      score_fn: the score function it asks for (`sampler.score_input`).
      inpaint: wrap the sampler in `Inpainting`, its y and mask graph inputs.
      basis: with `inpaint`, the orthogonal channel basis of the mask (a graph constant;
        `tfncsn.sampling.conditioning.COLOUR_BASIS` for colorization), or None for the pixels.
      sampler_name: the sampler's plugin name, for a sample program: its description then
        names the sampler and its options (`sampler`).
    """

    def __init__(self, sampler: Sampler, score_fn: ScoreFn, inpaint: bool = False,
                 basis: np.ndarray | None = None, sampler_name: str | None = None):
        self.sampler, self.score_fn, self.inpaint = sampler, score_fn, inpaint
        self.sampler_name = sampler_name
        self.basis = None if basis is None else np.asarray(basis, np.float64)
        shape = sampler.problem.element_shape
        probe = self.build(tf.zeros([1, *shape]), tf.zeros([1, *shape]))
        self.state = dict(probe.state)
        self.noise = tuple(probe.noise)
        self.num_steps = probe.num_steps
        self.has_finish = probe.has_finish
        self.score_evaluations = probe.score_evaluations
        self.prior = probe.prior
        self.step_sigmas = np.asarray(probe.step_sigmas, np.float32)
        self.inputs = INPAINT_INPUTS if inpaint else ()
        self.state_specs = [_spec(n, per, shape) for n, per in self.state.items()]
        self.noise_specs = [_spec(f"noise_{n.name}", n.per, shape) for n in self.noise]
        self.input_specs = [_spec(n, "element", shape) for n in self.inputs]

    def build(self, y=None, mask=None) -> Sampler:
        """A fresh program: built inside the traced function, its constants are graph
        constants (tensors made eagerly would be captured, which tf2onnx cannot freeze)."""
        sampler = type(self.sampler)(self.sampler.options, self.sampler.problem)
        return Inpainting(sampler, y, mask, self.basis) if self.inpaint else sampler

    def _split(self, args, with_step: bool):
        args = list(args)
        state = {n: args.pop(0) for n in self.state}
        k = args.pop(0) if with_step else None
        noise = {n.name: args.pop(0) for n in self.noise} if with_step else {}
        inputs = dict(zip(self.inputs, args))
        return state, k, noise, inputs

    def step_function(self, score_fn: ScoreFn | None = None
                      ) -> tf.types.experimental.PolymorphicFunction:
        """The step as a tf.function with named inputs; with the real score by default."""
        score_fn = score_fn or self.score_fn
        specs = [*self.state_specs, tf.TensorSpec([], tf.int32, name="k"), *self.noise_specs,
                 *self.input_specs]

        def step(*args):
            state, k, noise, inputs = self._split(args, True)
            new = self.build(**inputs).step(score_fn, state, k, noise)
            return {f"next_{n}": tf.identity(new[n]) for n in self.state}
        return tf.function(step, input_signature=specs)

    def finish_function(self, score_fn: ScoreFn | None = None
                        ) -> tf.types.experimental.PolymorphicFunction:
        score_fn = score_fn or self.score_fn
        specs = [*self.state_specs, *self.input_specs]

        def finish(*args):
            state, _, _, inputs = self._split(args, False)
            return {"samples": tf.identity(self.build(**inputs).finish(score_fn, state))}
        return tf.function(finish, input_signature=specs)

    def describe(self, name: str) -> dict[str, Any]:
        """What a runtime needs to loop the graphs of program `name` (its `programs` entry of
        metadata.json)."""
        return {
            **({} if self.sampler_name is None
               else {"sampler": sampler_entry(self.sampler_name, self.sampler)}),
            "step": programs.step_file(name),
            "finish": programs.finish_file(name) if self.has_finish else None,
            "num_steps": int(self.num_steps),
            "score_evaluations": int(self.score_evaluations),
            "state": [{"name": n, "per": per} for n, per in self.state.items()],
            "noise": [{"name": n.name, "input": f"noise_{n.name}", "distribution": n.distribution,
                       "per": n.per, "every": int(n.every)} for n in self.noise],
            "inputs": list(self.inputs),
            **({} if self.basis is None else {"basis": self.basis.tolist()}),
            "prior": self.prior.describe(),
            "step_sigmas": [float(str(s)) for s in self.step_sigmas],
        }


def convert(function, opset: int, doc: str, custom_ops: dict | None = None) -> onnx.ModelProto:
    """A tf.function with an input_signature as ONNX, the batch dimension named N."""
    import tf2onnx  # Heavy; only the export needs it.

    tf2onnx.logging.set_level(logging.ERROR)

    def from_function():
        with contextlib.redirect_stdout(io.StringIO()):  # tf2onnx prints its progress.
            return tf2onnx.convert.from_function(
                function, input_signature=function.input_signature, opset=opset,
                custom_ops=custom_ops)[0]

    try:
        try:
            with _environment(TF2ONNX_CATCH_ERRORS="FALSE"):
                model = from_function()
        except Exception as e:  # noqa: BLE001
            if not _raised_by_an_optimizer(e):
                raise
            model = from_function()  # tf2onnx's default: a pass that fails is skipped.
    except Exception as e:  # noqa: BLE001 -- a tracing error is the plugin's; say which line.
        raise ConversionError(f"cannot convert to ONNX: {last_line(e)}") from None
    name_batch_dimension(model)
    drop_unused_opsets(model)
    model.doc_string = doc
    return model


@contextlib.contextmanager
def _environment(**values: str):
    """Environment variables set for the duration of the block, then restored.

    tf2onnx deep-copies the whole graph before each of its optimizer passes, so that a pass that
    fails can be dropped; TF2ONNX_CATCH_ERRORS=FALSE turns the copies off, a third of the
    conversion time of the paper's network (docs/results.md#export-time). `convert` runs the
    conversion again with them should a pass fail."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _raised_by_an_optimizer(error: BaseException) -> bool:
    """Whether `error` comes from one of tf2onnx's optimizer passes (not from tracing or from
    converting an op)."""
    where = os.path.join("tf2onnx", "optimizer") + os.sep
    return any(where in frame.filename for frame in traceback.extract_tb(error.__traceback__))


class ConversionError(RuntimeError):
    """A graph could not be converted to ONNX."""


def name_batch_dimension(model: onnx.ModelProto) -> None:
    """Names the leading dimension of every float input and output N (tf2onnx says unk__K)."""
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_param = BATCH_DIM


def drop_unused_opsets(model: onnx.ModelProto) -> None:
    """Removes opset imports of domains no node uses (tf2onnx always adds ai.onnx.ml)."""
    used = {node.domain for node in model.graph.node}
    keep = [o for o in model.opset_import if o.domain in ("", "ai.onnx") or o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(keep)


def stub_score(x: tf.Tensor, noise_level: tf.Tensor) -> tf.Tensor:
    """A stand-in for the score network in converted graphs (never executed)."""
    out = tf.numpy_function(lambda a, b: a, [x, noise_level], tf.float32, stateful=False,
                            name="tfncsn_score")
    return tf.ensure_shape(out, x.shape)


def convert_with_network(function, network: onnx.ModelProto, opset: int, doc: str
                         ) -> onnx.ModelProto:
    """`function` (a step or finish traced with `stub_score`) as ONNX, every stand-in
    replaced by the nodes of `network` (inputs x and level or sigma, output score)."""
    model = convert(function, opset, doc, custom_ops={_STUB_OP: SCORE_DOMAIN})
    splice_network(model, network)
    onnx.checker.check_model(model)
    return model


def splice_network(model: onnx.ModelProto, network: onnx.ModelProto) -> None:
    """Replaces each `tfncsn.score` node of `model` by a renamed copy of `network`'s nodes;
    the network's weights become initializers of `model`, once."""
    graph, net = model.graph, network.graph
    weights = {t.name for t in net.initializer}
    net_inputs = [i.name for i in net.input if i.name not in weights]
    nodes = []
    copies = 0
    for node in graph.node:
        if node.domain != SCORE_DOMAIN:
            nodes.append(node)
            continue
        prefix = f"score{copies}/"
        copies += 1
        rename = dict(zip(net_inputs, node.input))
        rename[net.output[0].name] = node.output[0]
        for inner in net.node:
            if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                   for a in inner.attribute):
                raise ConversionError(f"the score network has a control-flow node "
                                      f"({inner.op_type}), which cannot be spliced")
            copy = onnx.NodeProto()
            copy.CopyFrom(inner)
            copy.name = prefix + inner.name
            copy.input[:] = [_renamed(n, rename, weights, prefix) for n in inner.input]
            copy.output[:] = [_renamed(n, rename, weights, prefix) for n in inner.output]
            nodes.append(copy)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(_prefixed_weight(t) for t in net.initializer)
    domains = {(o.domain or "ai.onnx") for o in model.opset_import}
    keep = [o for o in model.opset_import if o.domain != SCORE_DOMAIN]
    keep += [o for o in network.opset_import if (o.domain or "ai.onnx") not in domains]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    drop_unused_opsets(model)


def _renamed(name: str, rename: dict, weights: set, prefix: str) -> str:
    if not name:
        return name
    if name in rename:
        return rename[name]
    return f"net/{name}" if name in weights else prefix + name


def _prefixed_weight(tensor: onnx.TensorProto) -> onnx.TensorProto:
    copy = onnx.TensorProto()
    copy.CopyFrom(tensor)
    copy.name = f"net/{tensor.name}"
    return copy


def run_tf_step(function: Callable, program: GraphProgram, state: dict, k: int, noise: dict,
                inputs: dict) -> dict[str, np.ndarray]:
    """The TensorFlow step on numpy arrays, outputs keyed as the ONNX graph's."""
    args = [state[n] for n in program.state] + [tf.constant(k, tf.int32)] + \
        [noise[n.name] for n in program.noise] + [inputs[n] for n in program.inputs]
    return {key: value.numpy() for key, value in function(*args).items()}
