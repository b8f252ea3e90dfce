import numpy as np
import pytest
import tensorflow as tf

from tfncsn import registry
from tfncsn.schedules import InvalidSigmasError, validate_sigmas
from tfncsn_plugins.sigma_schedules import geometric, linear


def test_geometric_has_equal_ratios_and_endpoints():
    sigmas = geometric(1.0, 0.01, 10).numpy()
    assert sigmas.dtype == np.float32 and sigmas.shape == (10,)
    np.testing.assert_allclose([sigmas[0], sigmas[-1]], [1.0, 0.01], rtol=1e-6)
    ratios = sigmas[1:] / sigmas[:-1]
    np.testing.assert_allclose(ratios, np.full(9, 0.01 ** (1 / 9)), rtol=1e-5)


def test_linear_has_equal_steps():
    sigmas = linear(20.0, 1.0, 5).numpy()
    np.testing.assert_allclose(sigmas, [20.0, 15.25, 10.5, 5.75, 1.0], rtol=1e-6)


@pytest.mark.parametrize("schedule", [geometric, linear])
@pytest.mark.parametrize("args", [(1.0, 0.0, 10), (0.01, 1.0, 10), (1.0, 1.0, 3),
                                  (1.0, 0.1, 0), (float("nan"), 0.1, 3), (1.0, -1.0, 3)])
def test_schedules_reject_bad_arguments(schedule, args):
    with pytest.raises(InvalidSigmasError):
        schedule(*args)


def test_single_level_needs_equal_endpoints():
    np.testing.assert_allclose(geometric(0.5, 0.5, 1).numpy(), [0.5])


@pytest.mark.parametrize("bad", [[1.0, 1.0], [0.1, 0.5], [1.0, -0.5], [], [[1.0, 0.5]],
                                 [1.0, float("inf")]])
def test_validate_sigmas_rejects_with_one_clear_message(bad):
    with pytest.raises(InvalidSigmasError) as e:
        validate_sigmas(bad)
    assert "\n" not in str(e.value) and "sigma" in str(e.value)


def test_validate_sigmas_inside_tf_function_asserts():
    @tf.function
    def check(s):
        return validate_sigmas(s)

    np.testing.assert_allclose(check(tf.constant([2.0, 1.0])).numpy(), [2.0, 1.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match="strictly decreasing"):
        check(tf.constant([1.0, 2.0]))


def test_builtins_are_found_through_entry_points():
    assert registry.sigma_schedules.get("geometric") is geometric
    assert registry.sigma_schedules.get("linear") is linear
    info = {i.name: i for i in registry.sigma_schedules.infos()}["geometric"]
    assert info.distribution == "tfncsn"
    assert info.target == "tfncsn_plugins.sigma_schedules:geometric"
