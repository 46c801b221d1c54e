"""A user's own data, end to end: a tfds set searched for 1 round, its final network trained and
exported for a microcontroller (a folder of images: test_search.py's whole search)."""
import json

import pytest

import recipes
import search
import search_config


@pytest.mark.slow
def test_a_tfds_set_of_grayscale_images_is_searched_and_deployed_end_to_end(tmp_path):
    import tensorflow_datasets as tfds
    import inputs
    with tfds.testing.mock_data(num_examples=64, policy=tfds.testing.MockPolicy.USE_CODE):
        data = inputs.load_data("tfds:fashion_mnist", val_fraction=0.25, log=lambda line: None)
    # Round 0 only: the rounds after it read data no differently (test_search's folder search
    # has two).
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
