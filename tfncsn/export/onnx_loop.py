"""The whole sampler as one ONNX graph: annealed Langevin dynamics in an ONNX `Loop`.

    sampler(x0: float32 [N, *shape], noise: float32 [K, N, *shape]) -> samples: float32 [N, *shape]

Step k (0-based) runs at stage k // T (T = steps_per_level; stage i is noise
level i for Algorithm 1, the last level with step size eps for plain Langevin)
and adds noise[k]: x <- x + c_score * s(x, level) + c_noise * noise[k], where
(c_score, c_noise) = (a/2, sqrt(a)) ("paper") or (a, sqrt(2a)) ("reference")
and a = eps * sigma_i^2 / sigma_L^2. The loop runs K = noise.shape[0] steps, so
K = L * T is the full sampler and a smaller K its first steps. With `denoise`,
x + sigma_L^2 s(x, L-1) follows. The noise is an input because ONNX does not
specify its random generators (RandomNormal's values differ between runtimes
and are not reproducible from a seed): fed noise makes the graph exact and
comparable with any step-by-step implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SAMPLERS = ("annealed_langevin", "langevin")

DOC = ("tfncsn sampler graph: samples = sampler(x0: float32 [N, *element_shape], "
       "noise: float32 [K, N, *element_shape]); K = len(sigmas) * steps_per_level runs the whole "
       "sampler (steps_per_level for 'langevin'), a smaller K its first K steps. x0 is drawn from "
       "the uniform prior on prior_range, noise from N(0, 1). Metadata values are JSON.")


class UnsupportedModelError(ValueError):
    """The score graph or the sampler cannot be put into a Loop graph."""


def step_coefficients(meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per stage: the noise level, the score coefficient and the noise coefficient (float32).

    Computed in float32 exactly as `tfncsn.langevin` does, so the graph follows
    the TensorFlow sampler's arithmetic.
    """
    sigmas = np.asarray(meta["sigmas"], np.float32)
    eps = np.float32(meta["eps"])
    if meta["sampler"] == "annealed_langevin":
        levels = np.arange(len(sigmas), dtype=np.int32)
        alphas = eps * np.square(sigmas / sigmas[-1])
    elif meta["sampler"] == "langevin":
        levels = np.array([len(sigmas) - 1], np.int32)
        alphas = np.array([eps], np.float32)
    else:
        raise UnsupportedModelError(f"sampler '{meta['sampler']}' has no ONNX graph; only "
                                    f"{', '.join(SAMPLERS)} do")
    if meta["step_convention"] == "paper":
        return levels, np.float32(0.5) * alphas, np.sqrt(alphas)
    return levels, alphas, np.sqrt(np.float32(2.0) * alphas)


def _inline(graph: onnx.GraphProto, prefix: str, inputs: dict[str, str], outer: set[str]
            ) -> tuple[list[onnx.NodeProto], str]:
    """Copies of `graph`'s nodes with values renamed (inputs mapped, initializers kept)."""
    def rename(name: str) -> str:
        if not name or name in outer:
            return name
        return inputs.get(name, prefix + name)

    nodes = []
    for node in graph.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
               for a in node.attribute):
            raise UnsupportedModelError(f"the score graph has a control-flow node "
                                        f"({node.op_type} '{node.name}')")
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = prefix + node.name
        copy.input[:] = [rename(n) for n in node.input]
        copy.output[:] = [rename(n) for n in node.output]
        nodes.append(copy)
    return nodes, rename(graph.output[0].name)


def _const(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def build(score_model: onnx.ModelProto, meta: dict[str, Any]) -> onnx.ModelProto:
    """The sampler graph around `score_model` (inputs x, level; output score)."""
    score_graph = score_model.graph
    levels, c_score, c_noise = step_coefficients(meta)
    shape = [int(d) for d in meta["element_shape"]]
    sigma_min = np.float32(meta["sigmas"][-1])
    initializers = list(score_graph.initializer) + [
        _const("sampler/stage_level", levels), _const("sampler/c_score", c_score),
        _const("sampler/c_noise", c_noise),
        _const("sampler/steps_per_level", np.int64(meta["steps_per_level"])),
        _const("sampler/zero", np.int64(0)), _const("sampler/true", np.bool_(True))]
    if meta["denoise"]:
        initializers += [_const("sampler/last_level", np.int32(len(meta["sigmas"]) - 1)),
                         _const("sampler/sigma_min_squared", np.square(sigma_min))]
    outer = {t.name for t in initializers} | {"x0", "noise"}

    score_nodes, score = _inline(score_graph, "step/", {"x": "loop/x", "level": "loop/level_vec"},
                                 outer)
    body = helper.make_graph(
        [helper.make_node("Div", ["loop/iter", "sampler/steps_per_level"], ["loop/stage"]),
         helper.make_node("Gather", ["sampler/stage_level", "loop/stage"], ["loop/level"]),
         helper.make_node("Shape", ["loop/x"], ["loop/batch"], start=0, end=1),
         helper.make_node("Expand", ["loop/level", "loop/batch"], ["loop/level_vec"]),
         helper.make_node("Gather", ["sampler/c_score", "loop/stage"], ["loop/c_score"]),
         helper.make_node("Gather", ["sampler/c_noise", "loop/stage"], ["loop/c_noise"]),
         helper.make_node("Gather", ["noise", "loop/iter"], ["loop/z"], axis=0),
         *score_nodes,
         helper.make_node("Mul", ["loop/c_score", score], ["loop/drift"]),
         helper.make_node("Add", ["loop/x", "loop/drift"], ["loop/x_drift"]),
         helper.make_node("Mul", ["loop/c_noise", "loop/z"], ["loop/diffusion"]),
         helper.make_node("Add", ["loop/x_drift", "loop/diffusion"], ["loop/x_next"]),
         helper.make_node("Identity", ["loop/cond"], ["loop/cond_next"])],
        "langevin_step",
        [helper.make_tensor_value_info("loop/iter", TensorProto.INT64, []),
         helper.make_tensor_value_info("loop/cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("loop/x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("loop/cond_next", TensorProto.BOOL, []),
         helper.make_tensor_value_info("loop/x_next", TensorProto.FLOAT, None)])

    nodes = [helper.make_node("Shape", ["noise"], ["sampler/noise_shape"]),
             helper.make_node("Gather", ["sampler/noise_shape", "sampler/zero"],
                              ["sampler/num_steps"]),
             helper.make_node("Loop", ["sampler/num_steps", "sampler/true", "x0"],
                              ["sampler/x_last"], body=body)]
    result = "sampler/x_last"
    if meta["denoise"]:  # Tweedie step x + sigma_L^2 s(x, L-1) (NCSNv2).
        nodes += [helper.make_node("Shape", [result], ["denoise/batch"], start=0, end=1),
                  helper.make_node("Expand", ["sampler/last_level", "denoise/batch"],
                                   ["denoise/level_vec"])]
        denoise_nodes, denoise_score = _inline(
            score_graph, "denoise/", {"x": result, "level": "denoise/level_vec"}, outer)
        nodes += [*denoise_nodes,
                  helper.make_node("Mul", ["sampler/sigma_min_squared", denoise_score],
                                   ["denoise/step"]),
                  helper.make_node("Add", [result, "denoise/step"], ["denoise/x"])]
        result = "denoise/x"
    nodes.append(helper.make_node("Identity", [result], ["samples"]))

    graph = helper.make_graph(
        nodes, "tfncsn_sampler",
        [helper.make_tensor_value_info("x0", TensorProto.FLOAT, ["N", *shape]),
         helper.make_tensor_value_info("noise", TensorProto.FLOAT, ["K", "N", *shape])],
        [helper.make_tensor_value_info("samples", TensorProto.FLOAT, ["N", *shape])],
        initializer=initializers)
    model = helper.make_model(graph, opset_imports=list(score_model.opset_import),
                              producer_name="tfncsn", ir_version=score_model.ir_version)
    onnx.checker.check_model(model)
    return model
