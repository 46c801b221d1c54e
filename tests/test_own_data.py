"""A user's own data, end to end: a folder of images searched for 2 rounds and a tfds set
searched for 1, each final network trained and exported for a microcontroller (--export_final)."""
import json
import os

import numpy as np
import pytest

import readers
import recipes
import search
import search_config
from conftest import c_array, run_search, write_image

FOLDER_CLASSES = ("blue", "green", "red")  # as image_dataset_from_directory orders them


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    """A user's images: 80 PNGs of 24x24 per class folder, each class a colour plus noise."""
    root, rng = tmp_path_factory.mktemp("images"), np.random.default_rng(0)
    for name, colour in zip(FOLDER_CLASSES, ([40, 40, 200], [40, 200, 40], [200, 40, 40])):
        for i in range(80):
            pixels = np.clip(rng.normal(colour, 40, (24, 24, 3)), 0, 255).astype(np.uint8)
            write_image(root / name / f"{i}.png", pixels)
    return str(root)


@pytest.mark.slow
def test_a_folder_of_images_ends_as_a_model_firmware_takes_as_it_is(png_folder, tmp_path):
    out_dir = str(tmp_path / "run")
    result = run_search(f"folder:{png_folder}", out_dir, "--final_epochs=1")
    assert "48 of its 240 images (20%, seed 0) are held out as the test split" in result.stdout
    assert json.load(open(os.path.join(out_dir, "class_names.json"))) == list(FOLDER_CLASSES)
    run = readers.load_run(out_dir)
    assert run.summary.rounds == 2 and run.config.data.startswith("folder:")
    deployed = run.summary.final.deployed
    # The int8 model reads raw pixels and predicts what the Keras model predicts.
    assert deployed["int8_agreement"] >= 0.95, deployed
    assert deployed["tflm_arena_head_bytes"] == deployed["planned_arena_bytes"]
    int8 = open(os.path.join(out_dir, "final", "model_int8.tflite"), "rb").read()
    source = open(os.path.join(out_dir, "final", "model_data.cc")).read()
    assert c_array(source) == (int8, len(int8))


@pytest.mark.slow
def test_a_tfds_set_of_grayscale_images_is_searched_and_deployed_end_to_end(tmp_path):
    import tensorflow_datasets as tfds
    import inputs
    with tfds.testing.mock_data(num_examples=64, policy=tfds.testing.MockPolicy.USE_CODE):
        data = inputs.load_data("tfds:fashion_mnist", val_fraction=0.25, log=lambda line: None)
    # Round 0 only: the rounds after it read data no differently (the folder search has two).
    config = search_config.SearchConfig(rounds=1, k=2, controller_epochs=2, list_size=8,
                                        final_epochs=1)
    summary = search.run(str(tmp_path), data, config,
                         recipes.TrainConfig(epochs=1, filters=4, batch_size=16, verbose=0,
                                            run_eagerly=True),
                         log=lambda line: None, front_png=False)
    assert summary.rounds == 1 and summary.trained == 2
    deployed = summary.final.deployed
    assert deployed["int8_agreement"] >= 0.95, deployed
    assert deployed["tflm_arena_head_bytes"] == deployed["planned_arena_bytes"]
    names = json.load(open(tmp_path / "class_names.json"))
    assert len(names) == 10 and names[0] == "T-shirt/top"
