"""Pixels: uint8 <-> float, the one conversion, and the threshold shipped with the model."""

import numpy as np

from network import pretrained
from network.ink.pixels import as_float_images, to_float, to_uint8
from network.ink.render import render


def test_to_uint8_rounds_to_the_wire_format():
    image = np.array([[0.0, 0.5, 1.0, 0.998, 0.002, 1.5, -0.2]], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(image), [[0, 128, 255, 254, 1, 255, 0]])
    assert to_uint8(render([[[0, 0], [9, 9]]])).dtype == np.uint8


def test_to_float_scales_to_the_unit_range():
    f = to_float(np.array([[0, 51, 255]], np.uint8))
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, [[0.0, 0.2, 1.0]])


def test_round_trip_is_exact_for_uint8():
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(to_uint8(to_float(pixels)), pixels)


def test_as_float_images_takes_one_image_or_a_batch_of_either_kind():
    one = np.full((28, 28), 255, np.uint8)
    batch = as_float_images(one)
    assert batch.shape == (1, 28, 28) and batch.dtype == np.float32 and batch.max() == 1.0
    floats = np.zeros((3, 28, 28), np.float64)
    assert as_float_images(floats).dtype == np.float32
    assert as_float_images(floats).shape == (3, 28, 28)


def test_not_sure_threshold_is_a_probability():
    assert 0.0 < pretrained.NOT_SURE_BELOW < 1.0
