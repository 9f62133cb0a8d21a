"""Calibration: temperature fitting, expected calibration error, and the evaluation report."""

from __future__ import annotations

import numpy as np
import pytest

from network.nn.losses import softmax
from network.training.calibration import (
    calibrated_ece,
    evaluate_probabilities,
    expected_calibration_error,
    fit_points_temperature,
    fit_temperature,
    nll,
)


def calibrated_sample(n, seed, spread=3.0):
    """Logits z and labels drawn from softmax(z): a model that is calibrated by construction."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 10)) * spread
    p = softmax(z)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return z, labels


@pytest.mark.parametrize(("true_t", "true_c"), [(0.8, 0.0), (0.75, 5.0), (1.5, 12.0)])
def test_fit_points_temperature_recovers_a_temperature_that_falls_as_points_come(
        true_t, true_c):
    z, y = calibrated_sample(8000, seed=4)
    points = np.random.default_rng(5).integers(2, 200, size=len(y))
    # calibrated exactly when divided by T (1 + c / points): over-confident early on
    logits = z * (true_t * (1 + true_c / points))[:, None]
    t, c = fit_points_temperature(logits, y, points)
    assert t == pytest.approx(true_t, rel=0.08)
    assert c == pytest.approx(true_c, abs=1.0)


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    z, y = calibrated_sample(20000, seed=1)
    # a model whose logits are z * T is calibrated exactly at temperature T
    fitted = fit_temperature((z * true_t).astype(np.float32), y)
    assert fitted == pytest.approx(true_t, rel=0.05)


def test_fitted_temperature_minimises_nll():
    z, y = calibrated_sample(5000, seed=2)
    logits = z * 1.8
    t = fit_temperature(logits, y)
    assert nll(logits, y, t) <= min(nll(logits, y, t * 0.9), nll(logits, y, t * 1.1))
    assert nll(logits, y, t) < nll(logits, y, 1.0)


def test_temperature_never_changes_the_winner():
    z, _ = calibrated_sample(500, seed=3)
    for t in (0.3, 1.0, 4.0):
        np.testing.assert_array_equal(softmax(z / t).argmax(1), z.argmax(1))


def test_ece_is_near_zero_for_calibrated_predictions():
    z, y = calibrated_sample(50000, seed=4)
    ece = expected_calibration_error(softmax(z), y)
    assert 0.0 <= ece < 0.015


def test_ece_is_large_for_over_confident_predictions():
    z, y = calibrated_sample(20000, seed=5)
    over = expected_calibration_error(softmax(3 * z), y)
    assert over > 0.1
    # and temperature scaling repairs it
    t = fit_temperature(3 * z, y)
    assert t == pytest.approx(3.0, rel=0.05)
    assert expected_calibration_error(softmax(3 * z / t), y) < 0.025   # sampling noise ~0.01


def test_calibrated_ece_is_the_noise_floor_of_a_calibrated_model():
    rng = np.random.default_rng(6)
    few, _ = calibrated_sample(700, seed=7)
    many, _ = calibrated_sample(7000, seed=8)
    floor_few = calibrated_ece(softmax(few), rng)
    floor_many = calibrated_ece(softmax(many), rng)
    # sampling noise shrinks about as 1 / sqrt(N): ten times the drawings, a third the floor
    assert 0.01 < floor_few < 0.06
    assert floor_many < 0.5 * floor_few
    # a calibrated model's own ECE on 700 drawings sits around that floor, not at zero
    measured = [expected_calibration_error(softmax(z), y)
                for z, y in (calibrated_sample(700, seed=s) for s in range(20, 40))]
    assert 0.5 * floor_few < np.median(measured) < 2 * floor_few
    # an over-confident model is far above its floor; a certain and right one has none
    z, y = calibrated_sample(700, seed=9)
    assert expected_calibration_error(softmax(3 * z), y) > 3 * calibrated_ece(softmax(3 * z), rng)
    assert calibrated_ece(np.eye(10)[[1, 2, 3]], rng) == 0.0


def test_ece_by_hand():
    # two bins used: confidence 0.95 (2 predictions, 1 right) and 0.55 (2 predictions, 2 right)
    p = np.full((4, 10), 0.0)
    p[0, 0] = p[1, 1] = 0.95
    p[2, 2] = p[3, 3] = 0.55
    labels = np.array([0, 5, 2, 3])
    # bin 0.95: |0.5 - 0.95| = 0.45 ; bin 0.55: |1 - 0.55| = 0.45 ; each weighs one half
    assert expected_calibration_error(p, labels) == pytest.approx(0.45)
    perfect = np.eye(10)[[1, 2, 3]]
    assert expected_calibration_error(perfect, np.array([1, 2, 3])) == 0.0


def test_evaluate_probabilities_on_a_hand_example():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 2, 9])
    p = np.full((6, 10), 0.01)
    p[np.arange(6), predicted] = 0.91
    report = evaluate_probabilities(p, labels)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["n"] == 6
    confusion = np.array(report["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 6
    assert confusion[0, 0] == 1 and confusion[0, 1] == 1 and confusion[1, 1] == 1
    assert confusion[2, 2] == 2 and confusion[2, 9] == 1
    assert confusion.sum(axis=1).tolist() == [2, 1, 3] + [0] * 7       # rows are true digits
    assert report["per_class"][:3] == pytest.approx([0.5, 1.0, 2 / 3])
    assert report["per_class"][3:] == [0.0] * 7                        # classes never seen
    assert 0.0 <= report["ece"] <= 1.0
    assert all(type(v) is float for v in report["per_class"])          # JSON-ready
    assert all(type(v) is int for row in report["confusion"] for v in row)
