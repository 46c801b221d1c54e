"""The final network of a search: trained from scratch on training + validation data for
`final_epochs`, tested on the test split, then exported to TFLite and measured in TFLite-Micro.

search.py calls `train_final` after its last round; a resumed search reads the result back
from the out_dir (final/result.json) instead of training again.
"""

import dataclasses

import arch_json
import inputs
import records
import train


def train_final(out, data, arch, memory, config, train_config, log=print, deploy=True):
    """After the last round: the final network trained from scratch for `final_epochs` on
    training + validation data (the recipe of train_config otherwise, the search's seed),
    tested on the test split, kept as final/model.keras; a records.Final, or None if
    final_epochs is 0. Done once: a resumed search reads final/result.json back.
    deploy: also export it (`deploy_final`)."""
    if config.final_epochs == 0:
        return None
    key = arch_json.key(arch)
    done = out.final()
    if done is not None and done.key == key and done.epochs == config.final_epochs:
        if deploy and done.ok and done.deployed is None:  # killed while exporting
            done = deploy_final(out, data, arch, done, config, train_config, log)
        return done
    log(f"final: training the final network from scratch, {config.final_epochs} epochs on "
        f"training + validation data")
    final_config = dataclasses.replace(train_config, epochs=config.final_epochs,
                                       seed=config.seed)
    result = train.train(arch, inputs.with_validation(data), final_config,
                         model_path=out.final_model_path, evaluate_test=True,
                         backup_dir=out.final_backup(key, config.final_epochs))
    final = records.Final(key, result.test_accuracy, memory.param_bytes,
                          memory.activation_bytes, config.final_epochs,
                          round(result.seconds, 3), result.status)
    out.write_final(final)  # before exporting: a kill then loses no training
    if deploy and final.ok:
        final = deploy_final(out, data, arch, final, config, train_config, log)
    return final


def deploy_final(out, data, arch, final, config, train_config, log=print):
    """The trained final network as final/model_float32.tflite and model_int8.tflite (taking
    raw pixels: the normalization of `data` inside), its operators in the memory-optimal
    order if the search used that schedule, measured in TFLite-Micro, and the int8 model as a C
    array for firmware, final/model_data.cc and model_data.h with the arena size (export.py);
    `final` with `deployed` set, written to final/result.json."""
    import export
    log("final: exporting to TFLite (int8) and measuring its TFLite-Micro arena")
    model, _ = train.load_model(out.final_model_path)
    exported = export.export(arch, data, out.final_dir, train_config.filters, model,
                             seed=config.seed, log=log, schedule="optimal"
                             if config.schedule == "optimal" else "strict")
    final = dataclasses.replace(final, deployed=dataclasses.asdict(exported))
    out.write_final(final)
    return final
