"""Test setup: quiet TensorFlow, import the project from the repository root, parsed flags."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

# Under pytest absl flags are never parsed; reading one would raise (SPEC §9).
flags.FLAGS.mark_as_parsed()
