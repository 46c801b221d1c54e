"""What a user's clone has: no ../shared beside it. Every script's default data set must resolve
there (tensorflow-datasets names, or files inside the project)."""
import os
import re
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


@pytest.fixture(scope="module")
def helpfull(clone):
    """{script: what `python SCRIPT --helpfull` prints in the clone}, all run at once (each
    spends its seconds importing TensorFlow)."""
    processes = {script: subprocess.Popen([sys.executable, script, "--helpfull"], cwd=clone,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          text=True) for script in SCRIPTS}
    return {script: process.communicate(timeout=300)[0] for script, process in processes.items()}


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_default_data_set_resolves_in_a_clone_without_shared(clone, helpfull, script):
    match = re.search(r"--dataset: .*?\(default: '([^']*)'\)", helpfull[script], re.S)
    assert match, f"{script}: no --dataset default in --helpfull:\n{helpfull[script][-2000:]}"
    dataset = match.group(1)
    if dataset.startswith("npz:"):
        path = dataset[len("npz:"):]
        assert os.path.isfile(os.path.join(clone, path)), f"{script}: {dataset} is not in the clone"
        assert os.path.realpath(os.path.join(clone, path)).startswith(os.path.realpath(clone))
    else:
        assert dataset in TFDS_NAMES, f"{script}: default dataset {dataset!r}"
