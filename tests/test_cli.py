"""The `inkling` command on a tiny generated MNIST folder: train, evaluate, export, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from support.mnist_files import REPO, write_idx, write_mnist_folder

from network.nn.model import load_model, save_model
from webapp.cli import main


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """300 training and 100 test synthetic digits, laid out like MNIST."""
    return write_mnist_folder(tmp_path_factory.mktemp("data") / "mnist", 300, 100, seed=0)


def train_args(data, out, seed=1, *extra):
    return ["train", "--data", str(data), "--arch", "mlp", "--hidden", "16", "--epochs", "3",
            "--batch-size", "32", "--lr", "0.005", "--seed", str(seed), "--out", str(out),
            *extra]


@pytest.fixture(scope="module")
def model_path(data_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "mlp.npz"
    assert main(train_args(data_dir, path)) == 0
    return path


def arrays(path):
    return [w.tobytes() for layer in load_model(path).layers for w in layer.params.values()]


def assert_one_error_line(capsys, rc, command):
    out, err = capsys.readouterr()
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith(f"inkling {command}: error: "), err
    assert "Traceback" not in err + out
    return err


# -- train -------------------------------------------------------------------------
def test_train_logs_epochs_and_saves_a_model(data_dir, tmp_path, capsys):
    out_path = tmp_path / "m.npz"
    assert main(train_args(data_dir, out_path, 1, "--no-augment")) == 0
    out = capsys.readouterr().out.splitlines()
    epochs = [line for line in out if line.startswith("epoch")]
    assert len(epochs) == 3 and all("samples/s" in e and "test accuracy" in e for e in epochs)
    assert out[-1].startswith(f"saved {out_path}")
    model = load_model(out_path)
    recipe = model.metadata["recipe"]
    assert (recipe["arch"], recipe["hidden"], recipe["seed"], recipe["augment"]) == \
        ("mlp", 16, 1, False)
    assert model.metadata["metrics"]["test_accuracy"] > 0.9      # the classes are easy
    assert model.temperature > 0
    assert os.listdir(tmp_path) == ["m.npz"]


def test_same_seed_gives_identical_weights(data_dir, model_path, tmp_path):
    again, other = tmp_path / "again.npz", tmp_path / "other.npz"
    assert main(train_args(data_dir, again)) == 0            # augmentation on, as model_path
    assert main(train_args(data_dir, other, seed=2)) == 0
    assert arrays(again) == arrays(model_path)
    assert arrays(other) != arrays(model_path)


def test_textbook_network(data_dir, tmp_path):
    path = tmp_path / "textbook.npz"
    assert main(["train", "--data", str(data_dir), "--arch", "mlp", "--hidden", "15",
                 "--activation", "sigmoid", "--epochs", "1", "--out", str(path)]) == 0
    model = load_model(path)
    assert [c["type"] for c in model.architecture()] == ["Flatten", "Dense", "Sigmoid", "Dense"]
    assert model.layers[1].params["W"].shape == (784, 15)


def test_train_cnn(tmp_path):
    small = write_mnist_folder(tmp_path / "small", n_train=60, n_test=20, seed=4)
    path = tmp_path / "cnn.npz"
    assert main(["train", "--data", str(small), "--arch", "cnn", "--epochs", "1",
                 "--batch-size", "64", "--out", str(path)]) == 0
    assert load_model(path).n_parameters == 421642


# -- evaluate and export -------------------------------------------------------------
def test_evaluate_json_prints_one_object(data_dir, model_path, capsys):
    assert main(["evaluate", "--data", str(data_dir), "--model", str(model_path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.endswith("\n") and out.count("\n") == 1
    report = json.loads(out)
    assert 0.0 <= report["accuracy"] <= 1.0 and 0.0 <= report["ece"] <= 1.0
    assert report["accuracy"] > 0.9
    per_class, confusion = report["per_class"], np.array(report["confusion"])
    assert len(per_class) == 10 and all(0.0 <= v <= 1.0 for v in per_class)
    assert confusion.shape == (10, 10) and confusion.sum() == 100
    assert report["accuracy"] == pytest.approx(np.trace(confusion) / 100)


def test_evaluate_text(data_dir, model_path, capsys):
    assert main(["evaluate", "--data", str(data_dir), "--model", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "ECE" in out and "confusion" in out
    assert len([line for line in out.splitlines() if line.startswith("  9")]) == 2


def test_export_json(model_path, tmp_path, capsys):
    path = tmp_path / "weights.json"
    assert main(["export-json", "--model", str(model_path), "--out", str(path)]) == 0
    doc = json.loads(path.read_text())
    model = load_model(model_path)
    assert doc["architecture"] == model.architecture()
    assert doc["temperature"] == model.temperature
    for exported, layer in zip(doc["layers"], model.layers, strict=True):
        assert exported.keys() == layer.params.keys()
        for name, w in layer.params.items():
            np.testing.assert_array_equal(np.array(exported[name], np.float32), w)
    capsys.readouterr()
    assert main(["export-json", "--model", str(model_path), "--out", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == doc


# -- bad input: one line on stderr, exit code 2, no traceback -------------------------
def broken_copy(data_dir, tmp_path, name, **damage):
    """A copy of the data folder with one IDX file rewritten (wrong magic, cut short...)."""
    folder = shutil.copytree(data_dir, tmp_path / "broken")
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (100, 28, 28)) if "images" in name else np.zeros(100)
    write_idx(folder / name, array, gz=True, **damage)
    return folder


@pytest.mark.parametrize("case,command,message", [
    ("missing folder", "evaluate", "does not exist"),
    ("missing folder", "train", "does not exist"),
    ("wrong magic", "evaluate", "magic number"),
    ("truncated", "evaluate", "truncated"),
    ("truncated", "train", "truncated"),
    ("wrong-shape model", "evaluate", "has shape"),
    ("corrupt model", "evaluate", "not a readable model file"),
    ("corrupt model", "export-json", "not a readable model file"),
    ("missing model", "evaluate", "does not exist"),
    ("out is a folder", "train", "is a folder"),
])
def test_bad_input(case, command, message, data_dir, model_path, tmp_path, capsys):
    data, model = data_dir, model_path
    out = tmp_path / "out.npz"
    if case == "missing folder":
        data = tmp_path / "nowhere"
    elif case == "wrong magic":
        data = broken_copy(data_dir, tmp_path, "t10k-images-idx3-ubyte.gz", magic=0x0804)
    elif case == "truncated":
        name = "t10k-images-idx3-ubyte.gz" if command == "evaluate" else \
            "train-labels-idx1-ubyte.gz"
        data = broken_copy(data_dir, tmp_path, name, cut=7)
    elif case == "wrong-shape model":
        m = load_model(model_path)
        m.layers[1].params["W"] = np.zeros((784, 17), np.float32)   # header still says 16
        model = tmp_path / "wrong.npz"
        save_model(m, model)
    elif case == "corrupt model":
        model = tmp_path / "corrupt.npz"
        model.write_bytes(os.urandom(3000))
    elif case == "missing model":
        model = tmp_path / "nope.npz"
    elif case == "out is a folder":
        out = tmp_path
    argv = {"train": train_args(data, out),
            "evaluate": ["evaluate", "--data", str(data), "--model", str(model), "--json"],
            "export-json": ["export-json", "--model", str(model), "--out", str(out)]}[command]
    err = assert_one_error_line(capsys, main(argv), command)
    assert message in err
    assert not out.is_file()                                  # nothing else happened


def test_make_subset_on_too_small_a_folder(data_dir, tmp_path, capsys):
    rc = main(["make-subset", "--data", str(data_dir), "--out", str(tmp_path / "s.npz")])
    assert_one_error_line(capsys, rc, "make-subset")
    assert not (tmp_path / "s.npz").exists()


def test_usage_errors_exit_2_without_traceback(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "x", "--out", "m.npz", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "must be positive" in capsys.readouterr().err


def test_as_a_real_process(data_dir, model_path, tmp_path):
    """The module entry point: exit codes and streams as a shell sees them."""
    # one BLAS thread: on a busy 2-core machine more threads only fight each other
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "webapp.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, env=env)

    ok = run("evaluate", "--data", str(data_dir), "--model", str(model_path), "--json")
    assert ok.returncode == 0 and ok.stderr == ""
    assert json.loads(ok.stdout)["accuracy"] > 0.9
    bad = run("evaluate", "--data", str(tmp_path / "nowhere"), "--model", str(model_path))
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    assert "does not exist" in bad.stderr
