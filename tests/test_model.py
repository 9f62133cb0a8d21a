"""Sequential: it learns, it is deterministic, and its files round-trip or fail clearly."""

from __future__ import annotations

import io
import json
import os
import threading

import numpy as np
import pytest

from network.nn.architectures import build_cnn, build_mlp
from network.nn.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Reshape
from network.nn.model import ModelFileError, Sequential, load_model, save_model
from network.nn.optim import Adam
from network.training.mnist import minibatches

# -- small synthetic problems -------------------------------------------------------


def xor_images(n, rng):
    """Label 1 when exactly one of two corner patches is inked: no linear model can do it."""
    a, b = rng.random(n) < 0.5, rng.random(n) < 0.5
    x = rng.uniform(0, 0.05, (n, 28, 28)).astype(np.float32)
    x[a, 2:10, 2:10] += rng.uniform(0.6, 1.0, (a.sum(), 1, 1)).astype(np.float32)
    x[b, 18:26, 18:26] += rng.uniform(0.6, 1.0, (b.sum(), 1, 1)).astype(np.float32)
    return x, (a ^ b).astype(np.int64)


def blob_images(n, rng):
    """Four classes: a bright 6x6 blob in one quadrant, jittered by up to 3 pixels."""
    y = rng.integers(0, 4, n)
    x = rng.uniform(0, 0.05, (n, 28, 28)).astype(np.float32)
    for i, k in enumerate(y):
        r, c = 4 + 14 * (k // 2) + rng.integers(-3, 4), 4 + 14 * (k % 2) + rng.integers(-3, 4)
        x[i, r:r + 6, c:c + 6] = 1.0
    return x, y


def tiny_cnn(rng, dropout=0.0):
    layers = [Reshape((28, 28, 1)), Conv2D(1, 4, kernel=3, stride=2, pad=1, rng=rng),
              ReLU(), MaxPool2D(2), Flatten(), Dense(7 * 7 * 4, 10, rng=rng)]
    if dropout:
        layers.insert(-1, Dropout(dropout, rng=rng))
    return Sequential(layers)


def fit(model, x, y, seed, epochs, lr=0.01, batch_size=20):
    rng = np.random.default_rng(seed)
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        for idx in minibatches(len(x), batch_size, rng):
            losses.append(model.train_step(x[idx], y[idx], opt))
    return losses


def weights(model):
    return [w.copy() for layer in model.layers for w in layer.params.values()]


def test_mlp_learns_xor_perfectly():
    x, y = xor_images(200, np.random.default_rng(0))
    model = build_mlp(np.random.default_rng(1), hidden=16)
    losses = fit(model, x, y, seed=2, epochs=15)
    assert losses[-1] < 0.1 * losses[0]
    assert (model.predict_proba(x).argmax(axis=1) == y).mean() == 1.0
    x_new, y_new = xor_images(100, np.random.default_rng(9))     # and it generalises
    assert (model.predict_proba(x_new).argmax(axis=1) == y_new).mean() == 1.0


def test_tiny_cnn_learns_four_blobs_perfectly():
    x, y = blob_images(120, np.random.default_rng(0))
    model = tiny_cnn(np.random.default_rng(1))
    fit(model, x, y, seed=2, epochs=12)
    assert (model.predict_proba(x).argmax(axis=1) == y).mean() == 1.0


def test_training_is_deterministic_for_a_seed():
    x, y = blob_images(60, np.random.default_rng(0))
    runs = []
    for seed in (5, 5, 6):
        # one generator for weights and dropout masks, one for shuffling: both from the seed
        model = tiny_cnn(np.random.default_rng(seed), dropout=0.25)
        fit(model, x, y, seed=seed, epochs=2, batch_size=20)
        runs.append(weights(model))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(runs[0], runs[2], strict=True))


def test_train_step_returns_the_loss_before_the_step_and_fills_grads():
    model = build_mlp(np.random.default_rng(0), hidden=8)
    x, y = xor_images(10, np.random.default_rng(1))
    from network.nn.losses import softmax_cross_entropy
    expected = softmax_cross_entropy(model.forward(x), y)[0]
    loss = model.train_step(x, y, Adam(model.parameters(), lr=0.1))
    assert loss == pytest.approx(expected, rel=1e-6)
    assert softmax_cross_entropy(model.forward(x), y)[0] < loss
    for layer, name in model.parameters():
        assert layer.grads[name].shape == layer.params[name].shape


def test_predict_proba_applies_the_temperature():
    model = build_mlp(np.random.default_rng(0), hidden=8)
    x = np.random.default_rng(1).uniform(0, 1, (5, 28, 28)).astype(np.float32)
    logits = model.predict_logits(x)
    model.temperature = 2.0
    p = model.predict_proba(x)
    assert p.shape == (5, 10) and p.dtype == np.float32
    z = logits.astype(np.float64) / 2.0
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(1, keepdims=True), rtol=1e-5)
    # a single image (28, 28) is a batch of one; large inputs are batched identically
    np.testing.assert_allclose(model.predict_proba(x[0]), p[:1], rtol=1e-6)
    big = np.repeat(x, 3, axis=0)
    np.testing.assert_allclose(model.predict_logits(big, batch_size=4), np.repeat(logits, 3, 0),
                               rtol=1e-5, atol=1e-6)


def test_build_mlp_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        build_mlp(np.random.default_rng(0), activation="tanh")


def test_shipped_architectures_have_the_documented_size():
    cnn, mlp = build_cnn(np.random.default_rng(0)), build_mlp(np.random.default_rng(0))
    # conv 3*3*32+32, conv 3*3*32*64+64, dense 3136*128+128, dense 128*10+10
    assert cnn.n_parameters == 320 + 18496 + 401536 + 1290
    assert mlp.n_parameters == 784 * 128 + 128 + 128 * 10 + 10
    assert "total parameters" in cnn.summary() and "Sequential(" in repr(cnn)


def test_copy_is_independent():
    model = build_mlp(np.random.default_rng(0), hidden=8)
    model.metadata = {"a": [1, 2]}
    clone = model.copy()
    clone.layers[1].params["W"] += 1.0
    clone.metadata["a"].append(3)
    assert not np.array_equal(clone.layers[1].params["W"], model.layers[1].params["W"])
    assert model.metadata == {"a": [1, 2]}


# -- save and load -----------------------------------------------------------------


@pytest.fixture
def trained():
    """A small CNN with non-trivial weights, a temperature and metadata."""
    model = tiny_cnn(np.random.default_rng(0))
    x, y = blob_images(40, np.random.default_rng(1))
    fit(model, x, y, seed=0, epochs=1)
    model.temperature = 1.37
    model.metadata = {"recipe": {"seed": 0, "arch": "tiny"}, "metrics": {"test_accuracy": 0.5}}
    return model, x


def test_save_load_round_trip_is_bit_identical(tmp_path, trained):
    model, x = trained
    path = tmp_path / "m.npz"
    save_model(model, path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.temperature == 1.37
    assert loaded.metadata == model.metadata
    assert loaded.architecture() == model.architecture()
    for a, b in zip(weights(model), weights(loaded), strict=True):
        assert a.dtype == b.dtype == np.float32 and a.tobytes() == b.tobytes()


def test_to_bytes_from_bytes_round_trip(trained):
    model, x = trained
    blob = model.to_bytes()
    clone = Sequential.from_bytes(blob)
    np.testing.assert_array_equal(clone.predict_proba(x), model.predict_proba(x))
    assert clone.to_bytes() == blob          # deterministic serialisation


def test_mlp_and_cnn_round_trip(tmp_path):
    for model in (build_mlp(np.random.default_rng(0), hidden=15, activation="sigmoid"),
                  build_cnn(np.random.default_rng(0))):
        save_model(model, tmp_path / "m.npz")
        assert load_model(tmp_path / "m.npz").architecture() == model.architecture()


def npz_bytes(arrays, header):
    """An .npz blob with the given arrays and a JSON header (or raw header bytes)."""
    buf = io.BytesIO()
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    np.savez(buf, header=np.frombuffer(raw, np.uint8), **arrays)
    return buf.getvalue()


def parts(model):
    arrays = {f"{i}.{name}": w for i, layer in enumerate(model.layers)
              for name, w in layer.params.items()}
    header = {"format": "inkling-model/1", "architecture": model.architecture(),
              "temperature": 1.0, "metadata": {}}
    return arrays, header


@pytest.fixture
def mlp_parts():
    return parts(build_mlp(np.random.default_rng(0), hidden=8))


def test_the_helper_builds_a_loadable_blob(mlp_parts):
    arrays, header = mlp_parts
    assert Sequential.from_bytes(npz_bytes(arrays, header)).n_parameters == 784 * 8 + 8 + 90


def test_refuses_garbage_bytes():
    for blob in (b"", b"hello", os.urandom(2000), b"PK\x03\x04" + os.urandom(100)):
        with pytest.raises(ModelFileError, match="not a readable model file"):
            Sequential.from_bytes(blob)


def test_refuses_corrupted_weights(trained):
    model, _ = trained
    blob = bytearray(model.to_bytes())
    w = model.layers[1].params["W"].tobytes()
    at = bytes(blob).index(w)                     # flip bytes inside a stored weight array
    blob[at:at + 8] = bytes(255 - v for v in blob[at:at + 8])
    with pytest.raises(ModelFileError):
        Sequential.from_bytes(bytes(blob))


def test_refuses_truncated_file(tmp_path, trained):
    model, _ = trained
    path = tmp_path / "m.npz"
    blob = model.to_bytes()
    for keep in (10, len(blob) // 2, len(blob) - 30):
        path.write_bytes(blob[:keep])
        with pytest.raises(ModelFileError, match=str(path)):
            load_model(path)


def test_refuses_wrong_shaped_array(mlp_parts):
    arrays, header = mlp_parts
    arrays["1.W"] = np.zeros((784, 9), np.float32)
    with pytest.raises(ModelFileError, match=r"1\.W has shape \(784, 9\).*needs \(784, 8\)"):
        Sequential.from_bytes(npz_bytes(arrays, header))


def test_refuses_missing_and_extra_arrays(mlp_parts):
    arrays, header = mlp_parts
    del arrays["3.b"]
    with pytest.raises(ModelFileError, match=r"missing \['3\.b'\]"):
        Sequential.from_bytes(npz_bytes(arrays, header))
    arrays["3.b"], arrays["7.W"] = np.zeros(10, np.float32), np.zeros(3, np.float32)
    with pytest.raises(ModelFileError, match=r"unexpected \['7\.W'\]"):
        Sequential.from_bytes(npz_bytes(arrays, header))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_refuses_non_finite_weights(mlp_parts, bad):
    arrays, header = mlp_parts
    arrays["1.W"] = arrays["1.W"].copy()
    arrays["1.W"][3, 4] = bad
    with pytest.raises(ModelFileError, match="NaN or infinite"):
        Sequential.from_bytes(npz_bytes(arrays, header))


def test_refuses_unknown_layer_type(mlp_parts):
    arrays, header = mlp_parts
    header["architecture"][2] = {"type": "Softplus"}
    with pytest.raises(ModelFileError, match="unknown layer type 'Softplus'"):
        Sequential.from_bytes(npz_bytes(arrays, header))


def test_refuses_bad_headers(mlp_parts):
    arrays, header = mlp_parts
    cases = [
        (b"{not json", "header is corrupt"),
        (b"\xff\xfe", "header is corrupt"),
        ({**header, "format": "keras/2"}, "unknown model format"),
        ({k: v for k, v in header.items() if k != "architecture"}, "header is corrupt"),
        ({**header, "architecture": [{"type": "Dense", "n_in": 784}]}, "header is corrupt"),
    ]
    for bad, message in cases:
        with pytest.raises(ModelFileError, match=message):
            Sequential.from_bytes(npz_bytes(arrays, bad))
    with pytest.raises(ModelFileError, match="header is corrupt"):
        Sequential.from_bytes(_without_header(arrays))


def _without_header(arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_refuses_a_model_that_does_not_map_images_to_ten_classes():
    model = Sequential([Flatten(), Dense(784, 12, rng=np.random.default_rng(0))])
    with pytest.raises(ModelFileError, match="not to 10 classes"):
        Sequential.from_bytes(model.to_bytes())


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.npz")
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path)                              # a folder


# -- validation of odd files (these were gaps in the first engine commit) ------------


def test_refuses_layers_whose_sizes_do_not_chain():
    rng = np.random.default_rng(0)
    model = Sequential([Flatten(), Dense(784, 128, rng=rng), ReLU(), Dense(64, 10, rng=rng)])
    with pytest.raises(ModelFileError, match="do not fit together"):
        Sequential.from_bytes(model.to_bytes())


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_refuses_a_nonsense_temperature(mlp_parts, temperature):
    arrays, header = mlp_parts
    with pytest.raises(ModelFileError, match="temperature"):
        Sequential.from_bytes(npz_bytes(arrays, {**header, "temperature": temperature}))


@pytest.mark.parametrize("case", ["list header", "npy", "text array"])
def test_refuses_odd_files_with_model_file_error(mlp_parts, case):
    arrays, header = mlp_parts
    if case == "list header":
        blob = npz_bytes(arrays, [1, 2])
    elif case == "npy":
        buf = io.BytesIO()
        np.save(buf, np.zeros(3))
        blob = buf.getvalue()
    else:
        blob = npz_bytes({**arrays, "1.W": np.full((784, 8), "x")}, header)
    with pytest.raises(ModelFileError):
        Sequential.from_bytes(blob)


def test_inference_keeps_no_activation_caches():
    # a CNN used to keep ~290 MB of im2col and masks alive after predicting 1,000 images
    model = tiny_cnn(np.random.default_rng(0))
    model.predict_proba(np.zeros((50, 28, 28), np.float32))
    cached = {f"{type(layer).__name__}.{name}": value.shape for layer in model.layers
              for name, value in vars(layer).items() if isinstance(value, np.ndarray)}
    assert cached == {}


def test_inference_from_many_threads_matches_a_serial_run():
    # One model serves every socket of a worker without a lock; that is only safe if
    # inference writes nothing into the layers (Dropout included).
    model = build_cnn(np.random.default_rng(3), dropout=0.5)
    before = {id(layer): set(vars(layer)) for layer in model.layers}
    images = np.random.default_rng(4).random((64, 28, 28), dtype=np.float32)
    serial = [model.predict_proba(image[None])[0] for image in images]
    results: dict[int, list] = {}
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        start.wait()
        results[worker] = [(i, model.predict_proba(images[i][None])[0])
                           for i in range(worker, len(images), 8) for _ in range(5)]

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r) for r in results.values()) == 5 * len(images)
    for answers in results.values():
        for i, probabilities in answers:
            np.testing.assert_array_equal(probabilities, serial[i])
    assert {id(layer): set(vars(layer)) for layer in model.layers} == before


# -- atomic saves --------------------------------------------------------------------


def test_save_replaces_an_existing_file_and_leaves_no_temp(tmp_path, trained):
    model, x = trained
    path = tmp_path / "m.npz"
    path.write_bytes(b"old contents")
    save_model(model, path)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert path.read_bytes() == model.to_bytes()
    assert (path.stat().st_mode & 0o777) == 0o644    # readable by the server's user too


def test_save_creates_missing_folders(tmp_path, trained):
    model, _ = trained
    save_model(model, tmp_path / "a" / "b" / "m.npz")
    assert load_model(tmp_path / "a" / "b" / "m.npz").temperature == model.temperature


def test_failed_save_keeps_the_old_file(tmp_path, trained, monkeypatch):
    model, _ = trained
    path = tmp_path / "m.npz"
    old = build_mlp(np.random.default_rng(0), hidden=4)
    save_model(old, path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        save_model(model, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.npz"]              # the temp file was removed
    assert load_model(path).n_parameters == old.n_parameters
