"""Issue 10.6: checkpoints hold the model's variables as a flat list restored by position
(`tfncsn.training.model_weights`), so the construction order of both paper networks is pinned
here. gamma and alpha of a CondInstanceNorm++ are both [L, C]: built in another order they
would swap silently on restore. A change below means old checkpoints no longer fit: keep the
order, or convert the checkpoints.

Layout: one line per layer, "path: variable shape, ..." in checkpoint order, for
input_shape (8, 8, 2), ngf 4 and L = 3 noise levels (so C is 4 or 8, L is 3).
"""

import itertools

import pytest

from tfncsn import builders, training

CONDREFINENET = """\
begin_conv: kernel 3x3x2x4, bias 4
res1_0/norm1: gamma 3x4, alpha 3x4, beta 3x4
res1_0/norm2: gamma 3x4, alpha 3x4, beta 3x4
res1_0/conv2: kernel 3x3x4x4, bias 4
res1_0/conv1: kernel 3x3x4x4, bias 4
res1_1/norm1: gamma 3x4, alpha 3x4, beta 3x4
res1_1/norm2: gamma 3x4, alpha 3x4, beta 3x4
res1_1/conv2: kernel 3x3x4x4, bias 4
res1_1/conv1: kernel 3x3x4x4, bias 4
res2_0/norm1: gamma 3x4, alpha 3x4, beta 3x4
res2_0/norm2: gamma 3x4, alpha 3x4, beta 3x4
res2_0/conv2: kernel 3x3x4x8, bias 8
res2_0/conv1: kernel 3x3x4x4, bias 4
res2_0/shortcut: kernel 1x1x4x8, bias 8
res2_1/norm1: gamma 3x8, alpha 3x8, beta 3x8
res2_1/norm2: gamma 3x8, alpha 3x8, beta 3x8
res2_1/conv2: kernel 3x3x8x8, bias 8
res2_1/conv1: kernel 3x3x8x8, bias 8
res3_0/norm1: gamma 3x8, alpha 3x8, beta 3x8
res3_0/norm2: gamma 3x8, alpha 3x8, beta 3x8
res3_0/conv2: kernel 3x3x8x8, bias 8
res3_0/conv1: kernel 3x3x8x8, bias 8
res3_0/shortcut: kernel 3x3x8x8, bias 8
res3_1/norm1: gamma 3x8, alpha 3x8, beta 3x8
res3_1/norm2: gamma 3x8, alpha 3x8, beta 3x8
res3_1/conv2: kernel 3x3x8x8, bias 8
res3_1/conv1: kernel 3x3x8x8, bias 8
res4_0/norm1: gamma 3x8, alpha 3x8, beta 3x8
res4_0/norm2: gamma 3x8, alpha 3x8, beta 3x8
res4_0/conv2: kernel 3x3x8x8, bias 8
res4_0/conv1: kernel 3x3x8x8, bias 8
res4_0/shortcut: kernel 3x3x8x8, bias 8
res4_1/norm1: gamma 3x8, alpha 3x8, beta 3x8
res4_1/norm2: gamma 3x8, alpha 3x8, beta 3x8
res4_1/conv2: kernel 3x3x8x8, bias 8
res4_1/conv1: kernel 3x3x8x8, bias 8
refine1/adapter0/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine1/adapter0/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine1/adapter0/norm2: gamma 3x8, alpha 3x8, beta 3x8
refine1/adapter0/norm3: gamma 3x8, alpha 3x8, beta 3x8
refine1/adapter0/conv0: kernel 3x3x8x8
refine1/adapter0/conv1: kernel 3x3x8x8
refine1/adapter0/conv2: kernel 3x3x8x8
refine1/adapter0/conv3: kernel 3x3x8x8
refine1/pooling/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine1/pooling/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine1/pooling/conv0: kernel 3x3x8x8
refine1/pooling/conv1: kernel 3x3x8x8
refine1/output_unit/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine1/output_unit/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine1/output_unit/conv0: kernel 3x3x8x8
refine1/output_unit/conv1: kernel 3x3x8x8
refine2/adapter0/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine2/adapter0/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine2/adapter0/norm2: gamma 3x8, alpha 3x8, beta 3x8
refine2/adapter0/norm3: gamma 3x8, alpha 3x8, beta 3x8
refine2/adapter0/conv0: kernel 3x3x8x8
refine2/adapter0/conv1: kernel 3x3x8x8
refine2/adapter0/conv2: kernel 3x3x8x8
refine2/adapter0/conv3: kernel 3x3x8x8
refine2/adapter1/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine2/adapter1/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine2/adapter1/norm2: gamma 3x8, alpha 3x8, beta 3x8
refine2/adapter1/norm3: gamma 3x8, alpha 3x8, beta 3x8
refine2/adapter1/conv0: kernel 3x3x8x8
refine2/adapter1/conv1: kernel 3x3x8x8
refine2/adapter1/conv2: kernel 3x3x8x8
refine2/adapter1/conv3: kernel 3x3x8x8
refine2/fusion/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine2/fusion/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine2/fusion/conv0: kernel 3x3x8x8, bias 8
refine2/fusion/conv1: kernel 3x3x8x8, bias 8
refine2/pooling/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine2/pooling/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine2/pooling/conv0: kernel 3x3x8x8
refine2/pooling/conv1: kernel 3x3x8x8
refine2/output_unit/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine2/output_unit/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine2/output_unit/conv0: kernel 3x3x8x8
refine2/output_unit/conv1: kernel 3x3x8x8
refine3/adapter0/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine3/adapter0/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine3/adapter0/norm2: gamma 3x8, alpha 3x8, beta 3x8
refine3/adapter0/norm3: gamma 3x8, alpha 3x8, beta 3x8
refine3/adapter0/conv0: kernel 3x3x8x8
refine3/adapter0/conv1: kernel 3x3x8x8
refine3/adapter0/conv2: kernel 3x3x8x8
refine3/adapter0/conv3: kernel 3x3x8x8
refine3/adapter1/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine3/adapter1/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine3/adapter1/norm2: gamma 3x8, alpha 3x8, beta 3x8
refine3/adapter1/norm3: gamma 3x8, alpha 3x8, beta 3x8
refine3/adapter1/conv0: kernel 3x3x8x8
refine3/adapter1/conv1: kernel 3x3x8x8
refine3/adapter1/conv2: kernel 3x3x8x8
refine3/adapter1/conv3: kernel 3x3x8x8
refine3/fusion/norm0: gamma 3x8, alpha 3x8, beta 3x8
refine3/fusion/norm1: gamma 3x8, alpha 3x8, beta 3x8
refine3/fusion/conv0: kernel 3x3x8x4, bias 4
refine3/fusion/conv1: kernel 3x3x8x4, bias 4
refine3/pooling/norm0: gamma 3x4, alpha 3x4, beta 3x4
refine3/pooling/norm1: gamma 3x4, alpha 3x4, beta 3x4
refine3/pooling/conv0: kernel 3x3x4x4
refine3/pooling/conv1: kernel 3x3x4x4
refine3/output_unit/norm0: gamma 3x4, alpha 3x4, beta 3x4
refine3/output_unit/norm1: gamma 3x4, alpha 3x4, beta 3x4
refine3/output_unit/conv0: kernel 3x3x4x4
refine3/output_unit/conv1: kernel 3x3x4x4
refine4/adapter0/norm0: gamma 3x4, alpha 3x4, beta 3x4
refine4/adapter0/norm1: gamma 3x4, alpha 3x4, beta 3x4
refine4/adapter0/norm2: gamma 3x4, alpha 3x4, beta 3x4
refine4/adapter0/norm3: gamma 3x4, alpha 3x4, beta 3x4
refine4/adapter0/conv0: kernel 3x3x4x4
refine4/adapter0/conv1: kernel 3x3x4x4
refine4/adapter0/conv2: kernel 3x3x4x4
refine4/adapter0/conv3: kernel 3x3x4x4
refine4/adapter1/norm0: gamma 3x4, alpha 3x4, beta 3x4
refine4/adapter1/norm1: gamma 3x4, alpha 3x4, beta 3x4
refine4/adapter1/norm2: gamma 3x4, alpha 3x4, beta 3x4
refine4/adapter1/norm3: gamma 3x4, alpha 3x4, beta 3x4
refine4/adapter1/conv0: kernel 3x3x4x4
refine4/adapter1/conv1: kernel 3x3x4x4
refine4/adapter1/conv2: kernel 3x3x4x4
refine4/adapter1/conv3: kernel 3x3x4x4
refine4/fusion/norm0: gamma 3x4, alpha 3x4, beta 3x4
refine4/fusion/norm1: gamma 3x4, alpha 3x4, beta 3x4
refine4/fusion/conv0: kernel 3x3x4x4, bias 4
refine4/fusion/conv1: kernel 3x3x4x4, bias 4
refine4/pooling/norm0: gamma 3x4, alpha 3x4, beta 3x4
refine4/pooling/norm1: gamma 3x4, alpha 3x4, beta 3x4
refine4/pooling/conv0: kernel 3x3x4x4
refine4/pooling/conv1: kernel 3x3x4x4
refine4/output_unit/norm0: gamma 3x4, alpha 3x4, beta 3x4
refine4/output_unit/norm1: gamma 3x4, alpha 3x4, beta 3x4
refine4/output_unit/norm2: gamma 3x4, alpha 3x4, beta 3x4
refine4/output_unit/norm3: gamma 3x4, alpha 3x4, beta 3x4
refine4/output_unit/norm4: gamma 3x4, alpha 3x4, beta 3x4
refine4/output_unit/norm5: gamma 3x4, alpha 3x4, beta 3x4
refine4/output_unit/conv0: kernel 3x3x4x4
refine4/output_unit/conv1: kernel 3x3x4x4
refine4/output_unit/conv2: kernel 3x3x4x4
refine4/output_unit/conv3: kernel 3x3x4x4
refine4/output_unit/conv4: kernel 3x3x4x4
refine4/output_unit/conv5: kernel 3x3x4x4
end_norm: gamma 3x4, alpha 3x4, beta 3x4
end_conv: kernel 3x3x4x2, bias 2
"""

NCSNV2 = """\
begin_conv: kernel 3x3x2x4, bias 4
res1_0/norm1: gamma 4, alpha 4, beta 4
res1_0/norm2: gamma 4, alpha 4, beta 4
res1_0/conv2: kernel 3x3x4x4, bias 4
res1_0/conv1: kernel 3x3x4x4, bias 4
res1_1/norm1: gamma 4, alpha 4, beta 4
res1_1/norm2: gamma 4, alpha 4, beta 4
res1_1/conv2: kernel 3x3x4x4, bias 4
res1_1/conv1: kernel 3x3x4x4, bias 4
res2_0/norm1: gamma 4, alpha 4, beta 4
res2_0/norm2: gamma 4, alpha 4, beta 4
res2_0/conv2: kernel 3x3x4x8, bias 8
res2_0/conv1: kernel 3x3x4x4, bias 4
res2_0/shortcut: kernel 1x1x4x8, bias 8
res2_1/norm1: gamma 8, alpha 8, beta 8
res2_1/norm2: gamma 8, alpha 8, beta 8
res2_1/conv2: kernel 3x3x8x8, bias 8
res2_1/conv1: kernel 3x3x8x8, bias 8
res3_0/norm1: gamma 8, alpha 8, beta 8
res3_0/norm2: gamma 8, alpha 8, beta 8
res3_0/conv2: kernel 3x3x8x8, bias 8
res3_0/conv1: kernel 3x3x8x8, bias 8
res3_0/shortcut: kernel 3x3x8x8, bias 8
res3_1/norm1: gamma 8, alpha 8, beta 8
res3_1/norm2: gamma 8, alpha 8, beta 8
res3_1/conv2: kernel 3x3x8x8, bias 8
res3_1/conv1: kernel 3x3x8x8, bias 8
res4_0/norm1: gamma 8, alpha 8, beta 8
res4_0/norm2: gamma 8, alpha 8, beta 8
res4_0/conv2: kernel 3x3x8x8, bias 8
res4_0/conv1: kernel 3x3x8x8, bias 8
res4_0/shortcut: kernel 3x3x8x8, bias 8
res4_1/norm1: gamma 8, alpha 8, beta 8
res4_1/norm2: gamma 8, alpha 8, beta 8
res4_1/conv2: kernel 3x3x8x8, bias 8
res4_1/conv1: kernel 3x3x8x8, bias 8
refine1/adapter0/conv0: kernel 3x3x8x8
refine1/adapter0/conv1: kernel 3x3x8x8
refine1/adapter0/conv2: kernel 3x3x8x8
refine1/adapter0/conv3: kernel 3x3x8x8
refine1/pooling/conv0: kernel 3x3x8x8
refine1/pooling/conv1: kernel 3x3x8x8
refine1/output_unit/conv0: kernel 3x3x8x8
refine1/output_unit/conv1: kernel 3x3x8x8
refine2/adapter0/conv0: kernel 3x3x8x8
refine2/adapter0/conv1: kernel 3x3x8x8
refine2/adapter0/conv2: kernel 3x3x8x8
refine2/adapter0/conv3: kernel 3x3x8x8
refine2/adapter1/conv0: kernel 3x3x8x8
refine2/adapter1/conv1: kernel 3x3x8x8
refine2/adapter1/conv2: kernel 3x3x8x8
refine2/adapter1/conv3: kernel 3x3x8x8
refine2/fusion/conv0: kernel 3x3x8x8, bias 8
refine2/fusion/conv1: kernel 3x3x8x8, bias 8
refine2/pooling/conv0: kernel 3x3x8x8
refine2/pooling/conv1: kernel 3x3x8x8
refine2/output_unit/conv0: kernel 3x3x8x8
refine2/output_unit/conv1: kernel 3x3x8x8
refine3/adapter0/conv0: kernel 3x3x8x8
refine3/adapter0/conv1: kernel 3x3x8x8
refine3/adapter0/conv2: kernel 3x3x8x8
refine3/adapter0/conv3: kernel 3x3x8x8
refine3/adapter1/conv0: kernel 3x3x8x8
refine3/adapter1/conv1: kernel 3x3x8x8
refine3/adapter1/conv2: kernel 3x3x8x8
refine3/adapter1/conv3: kernel 3x3x8x8
refine3/fusion/conv0: kernel 3x3x8x4, bias 4
refine3/fusion/conv1: kernel 3x3x8x4, bias 4
refine3/pooling/conv0: kernel 3x3x4x4
refine3/pooling/conv1: kernel 3x3x4x4
refine3/output_unit/conv0: kernel 3x3x4x4
refine3/output_unit/conv1: kernel 3x3x4x4
refine4/adapter0/conv0: kernel 3x3x4x4
refine4/adapter0/conv1: kernel 3x3x4x4
refine4/adapter0/conv2: kernel 3x3x4x4
refine4/adapter0/conv3: kernel 3x3x4x4
refine4/adapter1/conv0: kernel 3x3x4x4
refine4/adapter1/conv1: kernel 3x3x4x4
refine4/adapter1/conv2: kernel 3x3x4x4
refine4/adapter1/conv3: kernel 3x3x4x4
refine4/fusion/conv0: kernel 3x3x4x4, bias 4
refine4/fusion/conv1: kernel 3x3x4x4, bias 4
refine4/pooling/conv0: kernel 3x3x4x4
refine4/pooling/conv1: kernel 3x3x4x4
refine4/output_unit/conv0: kernel 3x3x4x4
refine4/output_unit/conv1: kernel 3x3x4x4
refine4/output_unit/conv2: kernel 3x3x4x4
refine4/output_unit/conv3: kernel 3x3x4x4
refine4/output_unit/conv4: kernel 3x3x4x4
refine4/output_unit/conv5: kernel 3x3x4x4
end_norm: gamma 4, alpha 4, beta 4
end_conv: kernel 3x3x4x2, bias 2
"""


def layout(model) -> str:
    """The golden format of `model_weights(model)`, without the model's own (generated) name."""
    rows = []
    for variable in training.model_weights(model):
        parent, _, name = variable.path.split("/", 1)[1].rpartition("/")
        rows.append((parent, f"{name} {'x'.join(str(d) for d in variable.shape)}"))
    return "".join(f"{parent}: {', '.join(item for _, item in group)}\n"
                   for parent, group in itertools.groupby(rows, key=lambda row: row[0]))


@pytest.mark.parametrize("name, golden", [("refinenet", CONDREFINENET), ("refinenet_v2", NCSNV2)])
def test_checkpoint_variable_order_of_the_paper_networks_is_pinned(name, golden):
    model = builders.make_model(name, {"ngf": 4}, (8, 8, 2), [1.0, 0.5, 0.1])
    assert layout(model) == golden
    weights = training.model_weights(model)
    assert len({v.path for v in weights}) == len(weights)  # Every path names one variable.
    # The EMA list and Adam's slots follow trainable_variables: the same order.
    trainable = [v.path for v in model.trainable_variables]
    assert trainable == [v.path for v in weights if v.trainable]
