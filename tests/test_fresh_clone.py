"""What a user's clone has: no ../shared beside it. Every script's default data set must resolve
there (tensorflow-datasets names, or files inside the project)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

# Every script with a --dataset flag.
SCRIPTS = ("search.py", "train.py", "export.py", "reproduce/figure4_rounds.py",
           "reproduce/figure5_lambda.py", "reproduce/table3_controller.py",
           "bench/eager_training.py")
TFDS_NAMES = ("cifar10", "imagenet2012")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """The tracked files of this repository, copied to a folder with no ../shared beside it."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    copy = tmp_path_factory.mktemp("user") / "memnas"
    for name in filter(None, files):
        if os.path.exists(os.path.join(ROOT, name)):  # tracked, not deleted in the work tree
            os.makedirs(copy / os.path.dirname(name), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), copy / name)
    assert not (copy.parent.parent / "shared").exists()
    return copy


# Each script's flags defined in turn in one process (one TensorFlow import, not one per
# script), its --dataset default read, its flags removed before the next one's are defined.
DEFAULTS = """
import json, os, runpy, sys
from absl import flags
found = {}
for script in sys.argv[1:]:
    before = set(flags.FLAGS)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    namespace = runpy.run_path(script, run_name="defaults")
    if "define_flags" in namespace:  # else defined at the top, as it loaded
        namespace["define_flags"]()
    found[script] = flags.FLAGS["dataset"].default
    for name in set(flags.FLAGS) - before:
        delattr(flags.FLAGS, name)
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def defaults(clone):
    """{script: its --dataset default}, each script loaded from the clone."""
    done = subprocess.run([sys.executable, "-c", DEFAULTS, *SCRIPTS], cwd=clone,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_default_data_set_resolves_in_a_clone_without_shared(clone, defaults, script):
    dataset = defaults[script]
    if dataset.startswith("npz:"):
        path = dataset[len("npz:"):]
        assert os.path.isfile(os.path.join(clone, path)), f"{script}: {dataset} is not in the clone"
        assert os.path.realpath(os.path.join(clone, path)).startswith(os.path.realpath(clone))
    else:
        assert dataset in TFDS_NAMES, f"{script}: default dataset {dataset!r}"
