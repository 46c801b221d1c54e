"""Table 1 with --train_baselines: narrowed baseline builders, the rule that picks which to
train, domination, the searches' recipe, and a smoke run that trains, resumes and refuses."""
import json
import math

import keras
import pytest

import readers
import train
from conftest import assert_one_line_error, run_mains, write_search
from reproduce import baseline_training
from reproduce import baselines
from reproduce import table1_cifar10


def trainable(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def test_resnet8_at_width_4_has_the_hand_counted_parameters():
    # Stem 3x3x3x4 = 108; stage 1 (4 -> 4): 2 x 3x3x4x4 = 288; stage 2: 3x3x4x8 + 3x3x8x8 =
    # 288 + 576 = 864; stage 3: 3x3x8x16 + 3x3x16x16 = 1,152 + 2,304 = 3,456 (option A
    # shortcuts: none); BatchNorm scale + shift on 4 + 2 x (4 + 8 + 16) = 60 channels: 120;
    # dense 16 x 10 + 10 = 170. Sum: 5,006.
    assert trainable(baselines.resnet_cifar(8, 10, (32, 32, 3), width=4)) == 5_006
    assert trainable(baselines.resnet_cifar(56)) == 853_018  # the default is He et al.'s


def test_shufflenet_quarter_has_the_hand_counted_parameters():
    model = baselines.shufflenet_v1("0.25x", 10, (32, 32, 3), True, (1, 1, 1))
    # Stem 3x3x3x12 + BN 2x12 = 348. Stage 2 (stride 2, 12 -> 60: branch 48, bottleneck 12,
    # first 1x1 ungrouped): 12x12 + 24 + dw 9x12 + 24 + grouped 12/3 x 48 + 96 = 588. Stage 3
    # (60 -> 120: branch 60, bottleneck 15): 60/3 x 15 + 30 + 9x15 + 30 + 15/3 x 60 + 120 = 915.
    # Stage 4 (120 -> 240: branch 120, bottleneck 30): 1,200 + 60 + 270 + 60 + 1,200 + 240 =
    # 3,030. Dense 240 x 10 + 10 = 2,410. Sum: 7,291.
    assert trainable(model) == 7_291
    assert model.layers[-2].input.shape[-1] == 240  # pooled from the last stage's 240


def test_a_shufflenet_scale_whose_channels_do_not_divide_is_refused(monkeypatch):
    # A stem of 6 leaves the first unit 60 - 6 = 54 branch channels: not 4 x 3 groups.
    monkeypatch.setitem(baselines.SHUFFLENET_V1_G3, "odd", (6, 60, 120, 240))
    with pytest.raises(ValueError, match="54 branch channels: must be a multiple of 4 x 3"):
        baselines.shufflenet_v1("odd")


@pytest.mark.parametrize("alpha", [0.25, 0.5])
def test_mobilenet_v2_alpha_gives_keras_applications_channels(alpha):
    def filters(model):
        return [layer.filters for layer in model.layers if type(layer) is keras.layers.Conv2D]

    ours = baselines.mobilenet_v2_cifar(10, (32, 32, 3), alpha=alpha)
    theirs = keras.applications.MobileNetV2((32, 32, 3), alpha, include_top=False, weights=None)
    assert filters(ours) == filters(theirs)
    assert filters(ours)[:2] == [baselines.make_divisible(32 * alpha), 8]  # stem; 16 alpha -> 8
    assert filters(ours)[-1] == 1280  # kept for alpha <= 1, as keras.applications does


def test_choose_takes_the_nearest_by_ratio_per_family():
    candidates = {"A": [("a1", 0.5), ("a2", 2.0)], "B": [("b1", 1.0)]}
    # |log(0.5 / 0.9)| = 0.59 < |log(2 / 0.9)| = 0.80: a1; B has only b1.
    assert table1_cifar10.choose(candidates, [0.9]) == ["a1", "b1"]
    assert table1_cifar10.choose(candidates, [0.9, 1.9]) == ["a1", "a2", "b1"]
    assert table1_cifar10.choose(candidates, [1.0]) == ["a1", "b1"]  # a tie: the narrower
    assert table1_cifar10.choose(candidates, []) == ["a1", "b1"]  # no search: the narrowest


def test_dominated_needs_higher_accuracy_and_lower_memory():
    others = [("bigger, worse", 70.0, 2.0), ("bigger, better", 85.0, 2.0),
              ("smaller, worse", 70.0, 0.5), ("bigger, as good", 80.0, 2.0),
              ("untrained", None, 9.0), ("same size, worse", 70.0, 1.0)]
    assert table1_cifar10.dominated(80.0, 1.0, others) == ["bigger, worse"]
    assert table1_cifar10.dominated(None, 0.1, others) == []


def set_train(path, **fields):
    """Change the training settings a search's config.json records."""
    with open(f"{path}/config.json") as f:
        config = json.load(f)
    config["train"].update(fields)
    with open(f"{path}/config.json", "w") as f:
        json.dump(config, f)


def test_recipe_of_runs_is_the_final_training_of_the_searches(tmp_path):
    lam05 = write_search(tmp_path / "lam05", 0.5, [(0.5, 1, 1)])
    lam08 = write_search(tmp_path / "lam08", 0.8, [(0.5, 1, 1)])
    config = baseline_training.recipe_of_runs(readers.find_runs([str(tmp_path)]))
    # write_search records {"filters": 8, "epochs": 2}: the rest is what such an old out_dir
    # computed with (bn_momentum 0.99), the length the search's final_epochs (default 60).
    assert (config.epochs, config.seed, config.bn_momentum, config.batch_size) == (60, 0, 0.99,
                                                                                   128)
    set_train(lam08, batch_size=256)
    with pytest.raises(ValueError, match=f"{lam05} and {lam08} trained their final networks "
                                         "with different batch_size"):
        baseline_training.recipe_of_runs(readers.find_runs([str(tmp_path)]))
    set_train(lam08, batch_size=128, verbose=0, filters=16)  # neither changes the training
    baseline_training.recipe_of_runs(readers.find_runs([str(tmp_path)]))


@pytest.mark.slow
def test_smoke_trains_every_chosen_baseline_once_and_refuses_another_recipe(
        tmp_path, npz, monkeypatch):
    search = write_search(tmp_path / "lam05", 0.5, [(0.5, 1, 1)], filters=8,
                          test_accuracy=0.9)
    out = tmp_path / "table"
    training = baseline_training.Training(dataset=f"npz:{npz[0]}")
    lines = []
    rows = table1_cifar10.run(str(out), runs=[search], smoke=True, log=lines.append,
                              training=training)
    trained = [row for row in rows if row["model"].endswith(", trained")]
    # One per family, at least: ResNet, MobileNetV2, ShuffleNet.
    assert {row["model"].split()[0] for row in trained} == {"ResNet-8,", "MobileNetV2",
                                                             "ShuffleNet"}
    for row in trained:
        assert row["ours"]["status"] == "ok" and row["ours"]["epochs"] == 1
        assert 0 <= row["ours"]["accuracy"] <= 100 and row["ours"]["total_mib"] > 0
        with open(out / row["ours"]["trained"]) as f:
            assert json.load(f)["test_accuracy"] == row["ours"]["accuracy"] / 100
    with open(out / "table1_cifar10.json") as f:
        data = json.load(f)
    assert data["train_baselines"] and data["training"]["data"]["num_test"] == 10
    notes = "\n".join(data["notes"])
    assert "MemNAS (lambda=0.5) at w=8 (test 90.00 %" in notes and "dominates" in notes
    assert "the searches recorded data set npz:fake.npz" in notes
    assert "ours test acc %" in data["table"]

    def no_training(*args, **kwargs):
        raise AssertionError("a rerun trained again")

    monkeypatch.setattr(train, "train", no_training)
    again = table1_cifar10.run(str(out), runs=[search], smoke=True, log=lines.append,
                               training=training)
    assert [row for row in again if row["model"].endswith(", trained")] == trained

    set_train(search, label_smoothing=0.1)
    with pytest.raises(ValueError, match="was trained with recipe label_smoothing 0.0, now "
                                         "0.1; use another --out_dir"):
        table1_cifar10.run(str(out), runs=[search], smoke=True, log=lines.append,
                           training=training)


@pytest.mark.slow
def test_bad_training_input_is_one_line(tmp_path):
    write_search(tmp_path / "runs" / "lam05", 0.5, [(0.5, 1, 1)])
    lam08 = write_search(tmp_path / "runs" / "lam08", 0.8, [(0.5, 1, 1)])
    set_train(lam08, cutout=0)
    script = "reproduce/table1_cifar10.py"
    mismatch, recipe_with_runs = run_mains(
        script,
        ["--train_baselines", "--smoke", f"--runs={tmp_path / 'runs'}",
         f"--out_dir={tmp_path / 'out'}"],
        ["--train_baselines", "--recipe=short", f"--runs={tmp_path / 'runs'}",
         f"--out_dir={tmp_path / 'out'}"])
    assert_one_line_error(mismatch, f"table1_cifar10.py: --runs: {tmp_path / 'runs' / 'lam05'}"
                          f" and {lam08} trained their final networks with different cutout "
                          "(16 and 0); give searches of one recipe")
    assert_one_line_error(recipe_with_runs, "table1_cifar10.py: --recipe: with --runs the "
                          "recipe is the searches' (their config.json); give it only without "
                          "--runs")
