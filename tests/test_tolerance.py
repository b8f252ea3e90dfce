"""The golden and verification tolerance: |diff| <= atol + rtol * rms of each input's score."""

import numpy as np

from tfncsn_export import Tolerance, verify
from tfncsn_runtime.golden import compare_to_tolerance, tolerance_scale

# One input with scores of a few hundred (sigma_L = 0.01) and one element near 0, one of O(1).
EXPECTED = np.array([[300.0, -250.0, 0.002, 120.0], [1.0, -0.5, 0.25, 2.0]])
RMS = np.sqrt(np.mean(EXPECTED ** 2, axis=1))


def test_the_scale_is_each_inputs_rms():
    np.testing.assert_allclose(tolerance_scale(EXPECTED), np.repeat(RMS[:, None], 4, axis=1))
    np.testing.assert_array_equal(tolerance_scale(EXPECTED, "abs"), np.abs(EXPECTED))


def test_float32_noise_at_the_rows_scale_passes_where_the_elementwise_rule_failed():
    noise = EXPECTED + 5e-6 * RMS[:, None] * np.array([1, -1, 1, -1])  # Near-0 element too.
    tolerance = Tolerance().as_metadata()
    assert compare_to_tolerance(noise, EXPECTED, tolerance)[0]
    assert not compare_to_tolerance(noise, EXPECTED, {**tolerance, "scale": "abs"})[0]
    assert not compare_to_tolerance(noise, EXPECTED, {"atol": 1e-4, "rtol": 1e-4})[0]  # Old.


def test_an_error_of_a_thousandth_of_the_scale_fails():
    wrong = EXPECTED.copy()
    wrong[1, 2] += 1e-3 * RMS[1] + 1e-4
    passed, max_abs, max_rel, text = compare_to_tolerance(wrong, EXPECTED,
                                                          Tolerance().as_metadata())
    assert not passed and max_rel > 1e-3
    assert "rms(expected of the input)" in text
    assert not verify.compare("ONNX vs Keras", wrong, EXPECTED, Tolerance()).passed
    assert not compare_to_tolerance(np.full_like(EXPECTED, np.nan), EXPECTED,
                                    Tolerance().as_metadata())[0]
