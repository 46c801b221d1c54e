"""Test setup and what several test files share: quiet TensorFlow, parsed flags, a tiny learnable
data set, running a script as a user would, and search out_dirs written through records.py
without training anything."""
import json
import os
import re
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Ray runs its workers at niceness 15, so beside any other work on the machine the tests' Ray
# workers get almost no CPU and time out; at 0 they share it like the rest of the suite.
os.environ.setdefault("RAY_worker_niceness", "0")

from absl import flags  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import arch_json  # noqa: E402
import cells  # noqa: E402
import firmware  # noqa: E402
import records  # noqa: E402
import search_config  # noqa: E402
from efficiency import Stats  # noqa: E402

# Under pytest absl flags are never parsed; reading one would raise.
flags.FLAGS.mark_as_parsed()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 2 ** 20


def run_script(*args, cwd=ROOT, timeout=300):
    """`python ARGS...` from the repository root, output captured."""
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def run_mains(script, *arg_lists, cwd=ROOT, timeout=300):
    """The CompletedProcess of `python SCRIPT ARGS...` for each argument list, run through the
    script's main in one process (tests/main_cases.py) instead of one process each: for the
    error cases of a command line, which differ only in their flags."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "main_cases.py"), script],
                          input=json.dumps([list(map(str, args)) for args in arg_lists]),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return [subprocess.CompletedProcess([script, *args], r["returncode"], r["stdout"],
                                        r["stderr"]) for args, r in zip(arg_lists, results)]


def assert_one_line_error(result, expected):
    """Exit status 1, no traceback, and the last line of stderr is `expected` (a user sees one
    line naming the problem; absl may log above it)."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == expected, result.stderr


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory):
    """A learnable toy problem: 4 classes, each a different mean colour, 16x16 images; 48
    training and 16 test images."""
    rng = np.random.default_rng(0)

    def split(n):
        y = rng.integers(0, 4, n)
        x = rng.normal(60 + 40 * y[:, None, None, None], 20, (n, 16, 16, 3))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int64)

    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    x_train, y_train = split(48)
    x_test, y_test = split(16)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)


def write_search(path, lambda_, bests, improved=None, finished=True, arch=cells.FIGURE_1B,
                 filters=8, rounds=3, test_accuracy=None):
    """A search.py out_dir as a search leaves it, written through records.OutDir, with its
    rounds but no candidates. bests: the network kept after each round as (accuracy,
    param_bytes, activation_bytes); improved: per round (default: all True); finished: whether
    summary.json exists; test_accuracy: the final network's after a 5-epoch final training
    (None: no final training). Every round keeps `arch`."""
    improved = [True] * len(bests) if improved is None else improved
    out = records.OutDir(str(path))
    out.start(records.RunConfig(search_config.SearchConfig(lambda_=lambda_, rounds=rounds, k=2),
                                {"filters": filters, "epochs": 2}, "npz:fake.npz",
                                "trained from scratch, 2 epochs"), log=lambda line: None)
    stats = [Stats(*best) for best in bests]
    for n, (best, better) in enumerate(zip(stats, improved)):
        out.append_round(records.Round(
            round=n, base_arch=None if n == 0 else arch, base=best, best_key=arch_json.key(arch),
            best_arch=arch, best=best, best_y=0.1 * n, improved=better, trained=2, failed=0))
    if finished:
        final = None if test_accuracy is None else records.Final(
            arch_json.key(arch), test_accuracy, stats[-1].param_bytes, stats[-1].activation_bytes,
            5, 1.0, "ok")
        out.write_summary(records.Summary(rounds=len(bests), best_arch=arch, best=stats[-1],
                                          round0_best=stats[0], y_vs_round0=0.0, trained=6,
                                          seconds=1.0, final=final))
    return str(path)


# train.py's and inputs.py's tiny random data set (32x32, 10 classes, not learnable)
def write_npz(path, num_train=40, num_test=10, size=32, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    arrays = dict(x_train=rng.integers(0, 256, (num_train, size, size, 3), dtype=np.uint8),
                  y_train=rng.integers(0, 10, num_train),
                  x_test=rng.integers(0, 256, (num_test, size, size, 3), dtype=np.uint8),
                  y_test=rng.integers(0, 10, num_test))
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def images_and_labels(split):
    batches = list(split.batch(1000).as_numpy_iterator())
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    return path, write_npz(path)


@pytest.fixture(scope="module")
def tiny_data(npz):
    import inputs  # here, not at the top: some tests check what importing a module loads
    return inputs.load_data(f"npz:{npz[0]}", val_fraction=0.25, train_examples=24)


# The files that take longest on the development machine, longest first (a whole search killed
# and resumed through Ray, TFLite conversions, searches of a user's data, the benchmarks' smoke
# runs): with `--dist loadfile --no-loadscope-reorder` (pytest.ini) each file runs on one
# process, handed out in this order, so that no long file starts last and keeps one process
# busy while the others have nothing left. The others follow, in collection order.
SLOWEST_FILES = ("test_search.py", "test_export.py", "test_train.py", "test_proxy_fidelity.py",
                 "test_reproduce_controller.py", "test_scc.py", "test_parallel.py",
                 "test_own_data.py", "test_table1_trained.py", "test_inherit.py",
                 "test_nb201_search.py", "test_nb201.py", "test_lifetime.py",
                 "test_reproduce_search.py", "test_reproduce_memory.py",
                 "test_nb201_network.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = os.path.basename(str(item.fspath))
        return SLOWEST_FILES.index(name) if name in SLOWEST_FILES else len(SLOWEST_FILES)
    items.sort(key=rank)  # stable: each file's own order is kept


def c_array(source):
    """The bytes of firmware.MODEL_ARRAY and the value of MODEL_LENGTH, read back from
    model_data.cc's text."""
    body = re.search(rf"{firmware.MODEL_ARRAY}\[\] = \{{(.*?)\}};", source, re.S).group(1)
    length = re.search(rf"{firmware.MODEL_LENGTH} = (\d+);", source).group(1)
    return bytes(int(value, 16) for value in body.replace(",", " ").split()), int(length)


def search_args(npz, out_dir, *extra):
    """search.py's command line for a 2-round search of tiny networks on `npz` (a path) or
    another --dataset (a string with its form: "folder:PATH"). Eager steps: a candidate's 3
    batches cost less than tracing them (same numbers; traced steps have tests of their own)."""
    dataset = npz if ":" in npz else f"npz:{npz}"
    return [sys.executable, "search.py", f"--dataset={dataset}", "--rounds=2", "--k=2",
            "--epochs=1", "--filters=4", "--batch_size=16", "--val_fraction=0.25",
            "--controller_epochs=3", "--list_size=8", "--run_eagerly", f"--out_dir={out_dir}",
            *extra]


def run_search(npz, out_dir, *extra, env=None):
    result = subprocess.run(search_args(npz, out_dir, *extra), cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def write_image(path, pixels):
    """A PNG of uint8 pixels (H, W, C), written by TensorFlow (Pillow is not a requirement)."""
    import tensorflow as tf
    path.parent.mkdir(parents=True, exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(pixels))
