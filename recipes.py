"""How one candidate is trained, as data (paper Section 4.1): `TrainConfig`, the named recipes
`RECIPES`, and the flags every training script shares.

The paper trains every candidate the same way: CIFAR-10 with per-channel normalization, the
training images padded to 40x40 and randomly cropped back to 32x32, random horizontal flips and
cutout (one 16x16 hole, from the authors' code); SGD with momentum 0.9, learning rate 0.01,
batch 128, cosine decay with warm restarts (SGDR, Loshchilov & Hutter), 60 epochs. Every number
is a field of `TrainConfig` and a flag, the paper's values the defaults. Decisions the paper
leaves open, made here once:

* **Recipes.** `RECIPES` names sets of values: "paper" is the above, exactly; "short" is a
  common short-budget recipe (batch 256, Nesterov momentum, a linear warm-up to 0.2 then one
  cosine decay to 0, label smoothing 0.1, weight decay 5e-4, flip and 4-pixel translation
  without cutout). `TrainConfig.of_recipe` and `--recipe` fill every value not given on its
  own; the config records the recipe's name and every value.
* **BatchNorm momentum** 0.9 in Keras' sense, which is PyTorch's default 0.1, the authors'
  (Keras' own default, 0.99, leaves the moving statistics near their initial values after a
  few hundred steps, and a short training then evaluates on wrong statistics). A model saved
  before keeps the momentum it was built with.

* **Restart period.** The paper names SGDR but not its period. T_mult = 2 as in SGDR, and a first
  period of 4 epochs, so that 60 = 4 + 8 + 16 + 32 epochs end exactly at the end of a cycle (the
  lowest learning rate), with four cycles like SGDR's own T_0 = 10 run over 150 epochs. Keras'
  `CosineDecayRestarts` counts steps, not epochs: periods are converted here.
* **GPU fast path** (beyond the paper). `mixed_precision` trains under a Keras mixed dtype
  policy: 16-bit computation, float32 weights, logits (network.build_model) and loss, and loss
  scaling for float16, whose range is too small for small gradients. It changes the numbers.
  `jit_compile` compiles the steps with XLA; it changes how they run, not what they compute,
  up to float rounding. Its default, Keras' "auto", is XLA on a GPU (when every layer supports
  it) and none on a CPU, as before the option existed.
"""

import dataclasses

from absl import flags

import network

MIXED_PRECISION = ("float32", "mixed_bfloat16", "mixed_float16")  # Keras dtype policies


LR_SCHEDULES = ("sgdr", "warmup_cosine")

# Training recipes: named sets of TrainConfig values. Every value stays a field (and a flag) of
# its own; a recipe only fills the ones not given. "paper" is Section 4.1 exactly: TrainConfig's
# own defaults (module docstring). "short" is a common short-budget CIFAR recipe (larger batch
# and peak rate with a linear warm-up, Nesterov momentum, label smoothing, weight decay, flip +
# 4-pixel translation without cutout), for scaled-down searches and the final training of their
# networks.
RECIPES = {
    "paper": {},
    "short": dict(epochs=20, batch_size=256, learning_rate=0.2, nesterov=True,
                  weight_decay=5e-4, lr_schedule="warmup_cosine", warmup_fraction=0.1,
                  label_smoothing=0.1, cutout=0),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every number of Section 4.1 and of the short recipe; the defaults are the paper's (see
    the module docstring for the SGDR period, which the paper does not give, and weight decay,
    which it does not use). `recipe` names the recipe the values came from (`of_recipe`);
    fields given on their own override it, and the config records both."""
    epochs: int = 60  # 0: evaluate only, for a model given to train(start=...)
    batch_size: int = 128
    learning_rate: float = 0.01  # the peak rate of either schedule
    momentum: float = 0.9
    weight_decay: float = 0.0  # Keras' decoupled decay: each step w -= learning rate * wd * w
    sgdr_first_epochs: int = 4
    sgdr_t_mul: float = 2.0
    pad: int = 4
    cutout: int = 16
    filters: int = 64
    seed: int = 0
    verbose: int = 1
    # Keras traces a tf.function per candidate model; a scaled-down search that trains each
    # candidate for a few batches spends more time tracing than stepping, and eager steps are
    # faster there (bench/eager_training.py measures by how much). Same numbers either way, up
    # to float32 rounding (traced steps fuse ops differently).
    run_eagerly: bool = False
    # The GPU fast path (module docstring): a Keras dtype policy of MIXED_PRECISION, and XLA
    # (True, False or "auto": Keras' default, XLA on a GPU only; a plain False would switch off
    # the XLA that GPU runs had before this option).
    mixed_precision: str = "float32"
    jit_compile: bool | str = "auto"
    recipe: str = "paper"
    nesterov: bool = False
    # "sgdr": cosine with warm restarts (sgdr_*); "warmup_cosine": a linear warm-up from 0 over
    # warmup_fraction of the steps, then one cosine decay to 0.
    lr_schedule: str = "sgdr"
    warmup_fraction: float = 0.0
    label_smoothing: float = 0.0
    # Keras' default is 0.99; the authors trained in PyTorch, whose 0.1 is Keras' 0.9. With a
    # few hundred steps 0.99's moving statistics stay near their initial 0 and 1.
    bn_momentum: float = network.BN_MOMENTUM
    # Recompute an inherited model's BatchNorm statistics on this many training batches before
    # it is evaluated (recalibrate_batchnorm); 0: not.
    bn_recalibration: int = 0

    @classmethod
    def of_recipe(cls, recipe="paper", **fields):
        """The TrainConfig of RECIPES[recipe], with `fields` (None: the recipe's) on top."""
        if recipe not in RECIPES:
            raise ValueError(f"--recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
        given = {name: value for name, value in fields.items() if value is not None}
        return cls(**{**RECIPES[recipe], "recipe": recipe, **given})

    def __post_init__(self):
        for name in ("batch_size", "sgdr_first_epochs", "filters"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("epochs", "pad", "cutout", "weight_decay", "bn_recalibration"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        for name in ("momentum", "bn_momentum", "warmup_fraction", "label_smoothing"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not self.sgdr_t_mul >= 1:
            raise ValueError(f"sgdr_t_mul must be at least 1, got {self.sgdr_t_mul}")
        for name, choices in (("recipe", tuple(RECIPES)), ("lr_schedule", LR_SCHEDULES),
                              ("mixed_precision", MIXED_PRECISION)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got "
                                 f"{getattr(self, name)!r}")
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {self.verbose}")
        if not (isinstance(self.jit_compile, bool) or self.jit_compile == "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto', got "
                             f"{self.jit_compile!r}")
        if self.run_eagerly and self.jit_compile is True:
            # Keras would drop jit_compile with a warning: the run would not be the one asked.
            raise ValueError("run_eagerly and jit_compile exclude each other: eager steps are "
                             "not compiled")


# TrainConfig fields that change how training runs, not what it computes: a search may resume
# with other values.
EXECUTION_ONLY = ("verbose", "run_eagerly", "jit_compile")



def _lr_schedule_enum(name, default, help_text):
    flags.DEFINE_enum(name, default, list(LR_SCHEDULES), help_text)


# The TrainConfig fields a recipe sets, each a flag whose default is the recipe's: (field, absl
# definer, help).
_RECIPE_FLAGS = (
    ("epochs", flags.DEFINE_integer, "Training epochs"),
    ("batch_size", flags.DEFINE_integer, "Batch size"),
    ("learning_rate", flags.DEFINE_float, "Peak learning rate"),
    ("momentum", flags.DEFINE_float, "SGD momentum"),
    ("nesterov", flags.DEFINE_bool, "Nesterov momentum"),
    ("weight_decay", flags.DEFINE_float, "Decoupled weight decay (Keras SGD: each step "
     "w -= learning rate * decay * w)"),
    ("lr_schedule", _lr_schedule_enum, "sgdr (cosine with warm restarts) or warmup_cosine "
     "(linear warm-up, one cosine decay to 0)"),
    ("sgdr_first_epochs", flags.DEFINE_integer, "SGDR: epochs of the first cosine cycle (T_0)"),
    ("sgdr_t_mul", flags.DEFINE_float, "SGDR: each cycle is this many times longer than the "
     "one before (T_mult)"),
    ("warmup_fraction", flags.DEFINE_float, "warmup_cosine: share of the steps of the linear "
     "warm-up"),
    ("label_smoothing", flags.DEFINE_float, "Label smoothing of the cross-entropy"),
    ("pad", flags.DEFINE_integer, "Pixels of padding before the random crop"),
    ("cutout", flags.DEFINE_integer, "Side of the cutout hole, 0: no cutout"),
    ("bn_momentum", flags.DEFINE_float, "BatchNorm momentum, Keras' sense (0.9 is PyTorch's "
     "0.1, the authors')"),
    ("bn_recalibration", flags.DEFINE_integer, "Recompute an inherited network's BatchNorm "
     "statistics on this many training batches before it is evaluated; 0: not"))
RECIPE_FIELDS = tuple(name for name, _, _ in _RECIPE_FLAGS)


def define_recipe_flags(epochs_help=""):
    """--recipe and one flag per RECIPE_FIELDS (default: the recipe's value), for every script
    that trains (train.py, search.py); `recipe_config` reads them back."""
    flags.DEFINE_enum("recipe", "paper", list(RECIPES), "Training recipe: paper (Section 4.1 "
                      "exactly) or short (a short-budget recipe); the flags below override "
                      "its values one by one.")
    defaults = {field.name: field.default for field in dataclasses.fields(TrainConfig)}
    for name, define, help_text in _RECIPE_FLAGS:
        if name == "epochs" and epochs_help:
            help_text = f"{help_text}; {epochs_help}"
        values = {recipe: fields.get(name, defaults[name]) for recipe, fields in RECIPES.items()}
        said = (f"default {values['paper']}" if len(set(values.values())) == 1 else
                "default: the recipe's (" + ", ".join(f"{recipe} {value}"
                                                      for recipe, value in values.items()) + ")")
        define(name, None, f"{help_text}; {said}.")


def batch_fields(recipe, batch_size):
    """The TrainConfig fields of `recipe` at batches of `batch_size` ({} for None: the
    recipe's own): its peak learning rate scaled with the batch, the linear scaling rule
    (Goyal et al. 2017),
        lr' = lr * b' / b.
    A small budget gets more steps from smaller batches at about the same cost on a CPU."""
    if batch_size is None:
        return {}
    base = TrainConfig.of_recipe(recipe)
    return {"batch_size": batch_size,
            "learning_rate": base.learning_rate * batch_size / base.batch_size}


def recipe_config(values, **fields):
    """The TrainConfig of the recipe flags in `values` (absl FlagValues; a flag left unset
    takes the recipe's value), with `fields` (TrainConfig fields; None: the default) on top."""
    given = {name: values[name].value for name in ("recipe",) + RECIPE_FIELDS}
    return TrainConfig.of_recipe(**{**given, **fields})
