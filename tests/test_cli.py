"""The `inkling` command on a tiny generated MNIST folder: train, evaluate, export, bad input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time

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


def test_a_fine_tune_starts_from_its_model_and_says_which(data_dir, model_path, tmp_path):
    tuned, again = tmp_path / "tuned.npz", tmp_path / "again.npz"
    for path in (tuned, again):
        assert main(train_args(data_dir, path, 3, "--init", str(model_path), "--lr", "1e-4")) == 0
    assert arrays(tuned) == arrays(again)                 # a fine-tune repeats too
    assert arrays(tuned) != arrays(model_path)
    started = load_model(tuned).metadata["fine_tuned_from"]
    assert started["file"] == str(model_path)
    assert started["sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest()
    assert started["recipe"] == load_model(model_path).metadata["recipe"]
    assert started["fine_tuned_from"] is None             # the base was trained from scratch
    assert load_model(model_path).metadata["fine_tuned_from"] is None


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
    model = load_model(path)
    assert model.n_parameters == 421642
    # the default recipe is the served CNN's: finished drawings only
    assert model.metadata["recipe"]["prefixes"] == 0
    assert model.metadata["temperature_unfinished"] is None
    # pen-down ink, as the pen-down model is made, fits a temperature for it
    unfinished = tmp_path / "unfinished.npz"
    assert main(["train", "--data", str(small), "--arch", "cnn", "--epochs", "1",
                 "--batch-size", "64", "--prefixes", "1", "--init", str(path),
                 "--out", str(unfinished)]) == 0
    assert load_model(unfinished).metadata["temperature_unfinished"] > 0
    # a narrower CNN (the pen-down model's), its widths kept in the recipe
    narrow = tmp_path / "narrow.npz"
    assert main(["train", "--data", str(small), "--arch", "cnn", "--epochs", "1",
                 "--batch-size", "64", "--filters", "16", "32", "--hidden", "64",
                 "--out", str(narrow)]) == 0
    model = load_model(narrow)
    assert [layer.params["W"].shape for layer in model.layers if "W" in layer.params] == \
        [(3, 3, 1, 16), (3, 3, 16, 32), (1568, 64), (64, 10)]
    assert (model.metadata["recipe"]["filters"], model.metadata["recipe"]["hidden"]) == \
        ([16, 32], 64)
    # a style drawn more often than the others (the served CNN's fine-tune), kept too
    weighted = tmp_path / "weighted.npz"
    assert main(["train", "--data", str(small), "--arch", "cnn", "--epochs", "1",
                 "--batch-size", "64", "--filters", "16", "32", "--hidden", "64",
                 "--style-weight", "one_flag=4", "--style-weight", "seven_crossed=2",
                 "--out", str(weighted)]) == 0
    assert load_model(weighted).metadata["recipe"]["style_weights"] == \
        {"one_flag": 4, "seven_crossed": 2}
    assert model.metadata["recipe"]["style_weights"] == {}


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


@pytest.mark.parametrize("flags, words", [
    (["--style-weight", "one_flagg=2"], "no style is called 'one_flagg'"),
    (["--style-weight", "one_flag=0"], "at least 1"),
    (["--style-weight", "one_flag"], "STYLE=K"),
    (["--style-weight", "one_flag=2", "--styles", "0"], "--styles is 0"),   # nothing to weigh
    (["--style-weight", "one_flag=2", "--arch", "mlp"], "--styles is 0"),   # the MLP's preset
])
def test_a_bad_style_weight_is_one_error_line(data_dir, tmp_path, capsys, flags, words):
    rc = main(["train", "--data", str(data_dir), "--out", str(tmp_path / "m.npz"), *flags])
    assert words in assert_one_error_line(capsys, rc, "train")
    assert not (tmp_path / "m.npz").exists()


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


# -- the operator's commands, on SQLite and on PostgreSQL ---------------------------------
# A database filled through the Store interface with stand-in weights (the commands never
# load a model): version 1 seeded, drawings 1 and 3 accepted (versions 2 and 3), drawing 2
# refused, drawing 4 pending; writers w1 (drawings 1, 3) and w2 (drawing 2).

OPERATOR_DRAWINGS = [  # (label, writer, status, held-out of the version it makes)
    (3, "w1", "accepted", 0.94), (5, "w2", "refused", None), (7, "w1", "accepted", 0.96),
    (1, None, "pending", None)]


def fill(store) -> None:
    from webapp.store import TeachDecision, TeachRequest

    store.seed(b"weights-1", {"seeded_from": "test"}, 0.95, None)
    for i, (label, writer, status, heldout) in enumerate(OPERATOR_DRAWINGS):
        pixels = np.full((28, 28), i + 1, np.uint8)

        def step(txn, status=status, heldout=heldout):
            if status != "accepted":
                return TeachDecision(status, 0, 0, reason=f"{status} for the test")
            weights = f"weights-{txn.base.version + 1}".encode()
            return TeachDecision("accepted", 0, 0, heldout=heldout, weights=weights)

        store.teach(TeachRequest([[[0, 0], [i, i]]], pixels, label, writer, None,
                                 "10.0.0.0/24"), step)


class Database:
    """The flags that name a database for the commands, and a way to open it here."""

    def __init__(self, flags, opener):
        self.flags = flags
        self.open = opener


def empty_database(request, tmp_path) -> Database:
    if request.param == "postgres":
        from webapp.store.postgres import PostgresStore

        url = request.getfixturevalue("postgres_url")
        return Database(["--database-url", url], lambda: PostgresStore(url))
    from webapp.store.sqlite import SQLiteStore

    instance = tmp_path / "instance"
    return Database(["--instance", str(instance)], lambda: SQLiteStore.in_folder(instance))


@pytest.fixture(params=["sqlite", "postgres"])
def fresh(request, tmp_path, monkeypatch):
    """A database of each backend that does not exist yet (no schema, no folder)."""
    for name in ("INKLING_DATABASE_URL", "INKLING_INSTANCE_PATH"):
        monkeypatch.delenv(name, raising=False)
    return empty_database(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path, monkeypatch):
    """A filled database of each backend (see OPERATOR_DRAWINGS)."""
    for name in ("INKLING_DATABASE_URL", "INKLING_INSTANCE_PATH"):
        monkeypatch.delenv(name, raising=False)
    db = empty_database(request, tmp_path)
    with db.open() as store:
        fill(store)
    return db


def run(argv) -> int:
    """main(argv), with argparse's exits turned into return codes."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_versions(database, capsys):
    assert run(["versions", *database.flags]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["version", "created", "held-out", "parent", "taught", "note"]
    assert [line.split()[0] for line in lines[1:]] == ["3", "2", "1"]
    assert lines[1].split()[3:6] == ["96.00%", "2", "1"]
    assert lines[3].split()[3:] == ["95.00%", "-", "0", "seed"]
    assert run(["versions", "--json", *database.flags]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert [(r["version"], r["parent"], r["taught"], r["heldout"]) for r in rows] == [
        (3, 2, 1, 0.96), (2, 1, 1, 0.94), (1, None, 0, 0.95)]


def test_rollback_makes_a_new_version_and_keeps_the_history(database, capsys):
    assert run(["rollback", "2", *database.flags]) == 0
    out = capsys.readouterr().out
    assert out.startswith("version 4 now has the weights of version 2 (held-out 94.00%)")
    with database.open() as store:
        newest = store.load_version()
        assert (newest.version, newest.parent, newest.weights) == (4, 3, b"weights-2")
        assert [v["version"] for v in store.versions()] == [4, 3, 2, 1]
        assert store.sample_count() == 2  # the drawings stay
    assert run(["versions", "--json", *database.flags]) == 0
    assert json_lines(capsys.readouterr().out)[0]["note"] == "rollback to 2"


def test_drawings_lists_and_filters(database, capsys):
    def ids(*args):
        assert run(["drawings", "--json", *args, *database.flags]) == 0
        return [row["id"] for row in json_lines(capsys.readouterr().out)]

    assert ids() == [1, 2, 3, 4]
    assert ids("--writer", "w1") == [1, 3]
    assert ids("--status", "refused") == [2]
    assert ids("--status", "pending") == [4]
    assert ids("--writer", "w1", "--status", "accepted") == [1, 3]
    assert ids("--writer", "nobody") == []
    assert run(["drawings", *database.flags]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["id", "created", "status", "label"]
    assert lines[2].split()[3:5] == ["refused", "5"] and "refused for the test" in lines[2]
    assert lines[-1].startswith("4 drawings (read: what everyone's model read; seen: ")
    assert "--help` explains every column" in lines[-1]


def test_drawings_help_explains_every_column(capsys):
    assert run(["drawings", "--help"]) == 0
    out = capsys.readouterr().out
    columns = out[out.index("columns of the list:"):]
    for name in ("id", "created", "status", "label", "read", "seen", "version", "writer",
                 "source", "reason"):
        assert f"\n  {name} " in columns, name
    seen = columns[columns.index("\n  seen "):columns.index("\n  version ")]
    assert "writer's own adaptation" in seen and "seen == label" in seen


def test_drawings_delete_and_quarantine(database, capsys):
    assert run(["drawings", "--quarantine", "1", *database.flags]) == 0
    assert capsys.readouterr().out == "quarantined 1 of 1 drawing\n"
    with database.open() as store:
        assert store.drawings(status="quarantined")[0]["reason"] == "set aside by an operator"
        assert store.export_samples()[1].tolist() == [7]  # out of the data set
        assert store.sample_count() == 1
        assert store.writer_state("w1").samples == 1
    assert run(["drawings", "--quarantine", "1", "3", "--reason", "spam", *database.flags]) == 0
    assert "quarantined 1 of 2 drawings" in capsys.readouterr().out  # 1 was already
    assert run(["drawings", "--delete", "2", "4", "99", *database.flags]) == 0
    assert capsys.readouterr().out == "deleted 2 of 3 drawings (the others do not exist)\n"
    with database.open() as store:
        assert [d["id"] for d in store.drawings()] == [1, 3]
        assert store.latest_version() == 3  # the versions they taught stay


def test_export_writes_what_the_api_serves_and_says_what_it_left_out(database, tmp_path,
                                                                      capsys):
    out = tmp_path / "taught.npz"
    assert run(["export", "--out", str(out), *database.flags]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"wrote {out}: 2 drawings, the ones everyone's model learned")
    # The pending and the refused drawing are not in it, and the command says so.
    assert lines[1] == ("left out: 1 pending, 1 refused "
                        "(--status accepted pending refused includes them)")
    assert len(lines) == 2
    with np.load(out) as data:
        assert sorted(data.files) == ["images", "labels"]
        images, labels = data["images"], data["labels"]
    assert images.dtype == np.uint8 and images.shape == (2, 28, 28)
    assert labels.dtype == np.uint8 and labels.tolist() == [3, 7]
    assert images[:, 0, 0].tolist() == [1, 3]  # drawings 1 and 3, in teach order
    # A writer's drawings of every status but quarantined, as ?writer= serves them.
    assert run(["export", "--out", str(out), "--writer", "w2", *database.flags]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"wrote {out}: 1 drawing of writer w2, status accepted, pending, refused "
                     "(images uint8 (N, 28, 28), labels uint8 (N,))"]
    with np.load(out) as data:
        assert data["labels"].tolist() == [5]


def test_export_status_chooses_what_is_included(database, tmp_path, capsys):
    out = tmp_path / "all.npz"

    def export(*args):
        assert run(["export", "--out", str(out), *args, *database.flags]) == 0
        lines = capsys.readouterr().out.splitlines()
        with np.load(out) as data:
            return lines, data["labels"].tolist(), data["images"][:, 0, 0].tolist()

    lines, labels, firsts = export("--status", "accepted", "pending", "refused")
    assert lines == [f"wrote {out}: 4 drawings, status accepted, pending, refused "
                     "(images uint8 (N, 28, 28), labels uint8 (N,))"]
    assert (labels, firsts) == ([3, 5, 7, 1], [1, 2, 3, 4])  # every drawing, in teach order
    lines, labels, firsts = export("--status", "pending")
    assert (labels, firsts) == ([1], [4])
    assert lines[1] == ("left out: 2 accepted, 1 refused "
                        "(--status accepted pending refused includes them)")
    lines, labels, _ = export("--status", "refused", "--writer", "w1")
    assert labels == [] and lines[0].startswith(f"wrote {out}: 0 drawings of writer w1, status "
                                                "refused")
    assert lines[1] == "left out: 2 accepted (--status accepted refused includes them)"
    assert run(["drawings", "--quarantine", "3", *database.flags]) == 0
    capsys.readouterr()
    _, labels, _ = export("--status", "quarantined")
    assert labels == [7]


def test_export_help_says_what_is_included(capsys):
    assert run(["export", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "By default it holds only the drawings everyone's model learned (status accepted)" \
        in out
    assert "--status S [S ...]" in out and "every status but quarantined" in out
    assert "in a folder that exists" in out


@pytest.mark.parametrize("where", ["missing folder", "missing chain", "under a file"])
def test_export_into_a_folder_that_does_not_exist_is_one_error_line(where, database, tmp_path,
                                                                    capsys, monkeypatch):
    (tmp_path / "plain.txt").write_text("not a folder")
    out = {"missing folder": tmp_path / "nowhere" / "taught.npz",
           "missing chain": tmp_path / "a" / "b" / "c" / "taught.npz",
           "under a file": tmp_path / "plain.txt" / "sub" / "taught.npz"}[where]
    before = sorted(p.name for p in tmp_path.iterdir())
    err = assert_one_error_line(capsys, run(["export", "--out", str(out), *database.flags]),
                                "export")
    if where == "under a file":
        assert f"{tmp_path / 'plain.txt'} is a file, not a folder" in err
    else:
        assert f"the folder {out.parent} does not exist (create it first)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing was created
    # A folder that exists is fine, the current one included.
    assert run(["export", "--out", str(tmp_path / "taught.npz"), *database.flags]) == 0
    assert (tmp_path / "taught.npz").is_file()
    monkeypatch.chdir(tmp_path)
    assert run(["export", "--out", "here.npz", *database.flags]) == 0
    assert (tmp_path / "here.npz").is_file()


def test_db_upgrade_creates_then_finds_the_schema_current(fresh, capsys):
    assert run(["db", "upgrade", *fresh.flags]) == 0
    assert capsys.readouterr().out == "created the schema (version 3)\n"
    assert run(["db", "upgrade", *fresh.flags]) == 0
    assert capsys.readouterr().out == "the schema is up to date (version 3)\n"
    assert run(["versions", *fresh.flags]) == 0
    assert capsys.readouterr().out.startswith("no versions yet")


FIRST_RELEASE_SCHEMA = """
CREATE TABLE versions (version INTEGER PRIMARY KEY, created REAL NOT NULL,
    metadata TEXT NOT NULL, heldout REAL, parent INTEGER, weights BLOB NOT NULL);
CREATE TABLE drawings (id INTEGER PRIMARY KEY, created REAL NOT NULL,
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9), predicted INTEGER,
    base_version INTEGER NOT NULL, version INTEGER,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'quarantined')), reason TEXT,
    image BLOB NOT NULL CHECK (length(image) = 784), strokes TEXT NOT NULL);
CREATE INDEX drawings_by_status ON drawings (status, id);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('accepted', '1');
INSERT INTO versions VALUES (1, 0, '{}', 0.95, NULL, x'01'), (2, 1, '{}', 0.96, 1, x'02');
"""


def test_db_upgrade_brings_a_first_release_database_up_to_date(tmp_path, monkeypatch, capsys):
    import sqlite3

    monkeypatch.delenv("INKLING_DATABASE_URL", raising=False)
    instance = tmp_path / "instance"
    instance.mkdir()
    connection = sqlite3.connect(instance / "inkling.sqlite3")
    with connection:
        connection.executescript(FIRST_RELEASE_SCHEMA)
        connection.executemany(
            "INSERT INTO drawings VALUES (?, 0, ?, 1, 1, ?, ?, NULL, ?, '[]')",
            [(1, 4, 2, "accepted", bytes(784)), (2, 6, None, "quarantined", bytes(784))])
    connection.close()
    assert run(["db", "upgrade", "--instance", str(instance)]) == 0
    assert capsys.readouterr().out == "upgraded the schema from version 1 to 3\n"
    assert run(["drawings", "--json", "--instance", str(instance)]) == 0
    rows = json_lines(capsys.readouterr().out)
    # the first release's "quarantined" meant refused by the guard
    assert [(r["label"], r["status"]) for r in rows] == [(4, "accepted"), (6, "refused")]


@pytest.mark.parametrize("argv,command,message", [
    (["rollback", "9"], "rollback", "version 9 does not exist"),
    (["rollback", "0"], "rollback", "positive integer"),
    (["rollback", "two"], "rollback", "is not a version number"),
    (["drawings", "--status", "kept"], "drawings", "invalid choice"),
    (["drawings", "--delete", "x"], "drawings", "is not a drawing id"),
    (["drawings", "--delete", "98", "99"], "drawings", "no drawing has the ids 98, 99"),
    (["drawings", "--delete", "1", "--writer", "w1"], "drawings", "ids only"),
    (["drawings", "--delete", "1", "--quarantine", "2"], "drawings", "not allowed with"),
    (["export"], "export", "--out"),
    (["export", "--out", "{tmp}"], "export", "is a folder"),
    (["export", "--out", "{tmp}/x.npz", "--status", "kept"], "export", "invalid choice"),
    (["export", "--out", "{tmp}/x.npz", "--status"], "export", "expected at least one"),
    (["db"], "db", "required"),
])
def test_bad_operator_input(argv, command, message, database, tmp_path, capsys):
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    with database.open() as store:
        before = (store.versions(), store.drawings())
    flags = database.flags if argv != ["db"] else []
    err = assert_one_error_line(capsys, run([*argv, *flags]), command)
    assert message in err
    with database.open() as store:
        assert (store.versions(), store.drawings()) == before  # nothing changed


@pytest.mark.parametrize("case", ["no database here", "not postgresql", "unreachable",
                                  "bad setting"])
def test_bad_database_settings(case, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("INKLING_DATABASE_URL", raising=False)
    flags = ["--instance", str(tmp_path / "nowhere")]
    if case == "not postgresql":
        flags += ["--database-url", "mysql://127.0.0.1/inkling"]
    elif case == "unreachable":
        from support.postgres import free_port

        flags += ["--database-url", f"postgresql://127.0.0.1:{free_port()}/inkling"]
    elif case == "bad setting":
        monkeypatch.setenv("INKLING_KEEP_DRAWINGS", "lots")
    err = assert_one_error_line(capsys, run(["versions", *flags]), "versions")
    assert {"no database here": "no Inkling database at",
            "not postgresql": "must start with postgresql://",
            "unreachable": "cannot be reached",
            "bad setting": "INKLING_KEEP_DRAWINGS"}[case] in err
    assert not (tmp_path / "nowhere").exists()  # nothing was created


def test_operator_commands_as_a_real_process_find_the_apps_database(database, tmp_path):
    """The database from the environment the app reads (INKLING_DATABASE_URL, else
    INKLING_INSTANCE_PATH), as a shell runs the command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INKLING_")}
    env.update(PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1")
    name, value = database.flags
    env["INKLING_DATABASE_URL" if name == "--database-url" else "INKLING_INSTANCE_PATH"] = value

    def inkling(*args):
        return subprocess.run([sys.executable, "-m", "webapp.cli", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, env=env)

    ok = inkling("versions", "--json")
    assert ok.returncode == 0 and ok.stderr == ""
    assert [row["version"] for row in json_lines(ok.stdout)] == [3, 2, 1]
    bad = inkling("rollback", "7")
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("inkling rollback: error: model version 7 does not exist")


@pytest.mark.slow
def test_a_running_app_adopts_a_rollback_and_exports_match_the_api(make_app, tmp_path,
                                                                  monkeypatch, capsys):
    """SQLite and a live app; PostgreSQL with gunicorn hosts is in test_hosts."""
    from support.drawings import draw_digit

    from network.ink.pixels import to_uint8
    from network.ink.render import render
    from webapp.store import TeachRequest

    monkeypatch.delenv("INKLING_DATABASE_URL", raising=False)
    instance = tmp_path / "instance"
    app = make_app(instance, RATE_LIMITS=False, AGREE_SOURCES=1, GUARD_DROP=100,
                   GUARD_STEP=100, GUARD_CLASS_DROP=100, GUARD_UNSURE_DROP=100,
                   GUARD_ECE_RISE=100)
    hub = app.extensions["inkling"].hub
    for digit in (2, 7):
        strokes = [np.asarray(s, float) for s in draw_digit(digit)]
        assert hub.teach(TeachRequest(strokes, to_uint8(render(strokes)), digit)).accepted
    assert hub.version == 3
    flags = ["--instance", str(instance)]
    out = tmp_path / "taught.npz"
    assert run(["export", "--out", str(out), *flags]) == 0
    served = app.test_client().get("/api/samples.npz").data
    with np.load(out) as mine, np.load(io.BytesIO(served)) as api:
        assert mine["labels"].tolist() == api["labels"].tolist() == [2, 7]
        np.testing.assert_array_equal(mine["images"], api["images"])
        assert mine["images"].dtype == api["images"].dtype == np.uint8

    assert run(["rollback", "1", *flags]) == 0
    capsys.readouterr()
    rolled = time.monotonic()
    while hub.version != 4:  # the hub's follower adopts it by itself
        assert time.monotonic() - rolled < 1.0, "the app did not adopt the rollback in 1 s"
        time.sleep(0.01)
    assert app.test_client().get("/api/model").json["parent"] == 3


def test_drawings_approve_teaches_everyone_a_pending_drawing(tmp_path, capsys, monkeypatch):
    """A public server's correction waits for the operator; --approve teaches it to
    everyone's model in that drawing's own row, under the guard."""
    from support.drawings import draw_digit
    from support.servers import test_model_path

    from network import pretrained
    from network.ink.pixels import to_uint8
    from network.ink.render import render
    from webapp.hub import ModelHub
    from webapp.store import TeachRequest
    from webapp.store.sqlite import SQLiteStore

    for name in ("INKLING_DATABASE_URL", "INKLING_INSTANCE_PATH"):
        monkeypatch.delenv(name, raising=False)
    instance = tmp_path / "instance"
    strokes = [np.asarray(s, dtype=np.float64) for s in draw_digit(7)]
    with ModelHub.from_instance(instance, initial_model=test_model_path() or pretrained.CNN,
                                seed=0) as hub:
        outcome = hub.teach(TeachRequest(strokes, to_uint8(render(strokes)), 1,
                                         "writer-approve", "10.1.2.3", "10.1.2.0/24"))
        assert outcome.status == "pending" and "operator approves" in outcome.reason
        version = hub.version
        (pending,) = hub.store.drawings(status="pending")
    flags = ["--instance", str(instance)]
    assert run(["drawings", "--approve", str(pending["id"]), *flags]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"drawing {pending['id']} (a 1): ")
    with SQLiteStore.in_folder(instance) as store:
        (row,) = [d for d in store.drawings() if d["id"] == pending["id"]]
        assert len(store.drawings()) == 1  # the same drawing, not a copy
        if row["status"] == "accepted":  # learned: a new version made from it
            assert f"learned, version {version + 1}" in out
            assert row["version"] == version + 1 and store.latest_version() == version + 1
        else:  # the guard may refuse a step that costs too much: it says why
            assert row["status"] == "refused" and "refused: " in out
            assert store.latest_version() == version
    # approving again, or an id that is not pending, is one error line and exit 2
    rc = run(["drawings", "--approve", str(pending["id"]), *flags])
    assert "not pending: " in assert_one_error_line(capsys, rc, "drawings")


def test_rebase_adopts_a_new_model_with_the_instances_drawings_replayed(tmp_path, capsys,
                                                                       monkeypatch):
    """An instance made with one release (its drawings taught) is rebased onto another
    model: a new version on the new model, every drawing kept, its figures printed, and
    teaching goes on from it."""
    from support.drawings import draw_digit
    from support.servers import test_model_path

    from network import pretrained
    from network.ink.pixels import to_uint8
    from network.ink.render import render
    from network.nn.model import Sequential
    from webapp.hub import ModelHub
    from webapp.store import TeachRequest
    from webapp.store.sqlite import SQLiteStore

    if not pretrained.MLP.exists():
        pytest.skip(f"the second model of this test, {pretrained.MLP}, is not shipped")
    for name in ("INKLING_DATABASE_URL", "INKLING_INSTANCE_PATH"):
        monkeypatch.delenv(name, raising=False)
    instance = tmp_path / "instance"

    def request(digit, label, trust):
        strokes = [np.asarray(s, dtype=np.float64) for s in draw_digit(digit)]
        return TeachRequest(strokes, to_uint8(render(strokes)), label, "writer-rebase",
                            "10.0.0.9", "10.0.0.0/24", trust=trust)

    with ModelHub.from_instance(instance, initial_model=test_model_path() or pretrained.CNN,
                                seed=0) as hub:
        statuses = [hub.teach(request(d, d, "owner")).status for d in (1, 4, 0)]
        statuses.append(hub.teach(request(7, 1, "public")).status)
        assert statuses[-1] == "pending"
        before = hub.version
        drawings_before = [(d["id"], d["status"], d["label"]) for d in hub.store.drawings()]
    flags = ["--instance", str(instance)]
    assert run(["rebase", "--model", str(pretrained.MLP), *flags]) == 0
    out = capsys.readouterr().out
    learned = statuses.count("accepted")
    assert out.startswith(f"version {before + 1}: {pretrained.MLP} with ")
    assert f"of this instance's {learned} accepted drawings replayed" in out
    with SQLiteStore.in_folder(instance) as store:
        info = store.version_info()
        assert info.version == before + 1 and info.parent == before
        assert info.metadata["rebased_onto"] == str(pretrained.MLP.resolve())
        assert info.metadata["replayed"] + info.metadata["set_aside"] == learned
        assert f"held-out {100 * info.heldout:.2f}%" in out
        model = Sequential.from_bytes(store.load_version().weights)
        assert model.n_parameters == load_model(pretrained.MLP).n_parameters
        assert [(d["id"], d["status"], d["label"]) for d in store.drawings()] == \
            drawings_before  # every drawing kept as it was
    with ModelHub.from_instance(instance, seed=0) as hub:  # teaching goes on from it
        assert hub.version == before + 1
        outcome = hub.teach(request(1, 1, "owner"))
        assert outcome.status in ("accepted", "refused")
        assert outcome.version in (before + 1, before + 2)
