"""spam_tf: SPAM (starting-point transfer via autoencoder-compressed policies) on TF-Agents.

TF-Agents and TensorFlow Probability need Keras 2 (the tf-keras package), which
TensorFlow only picks when TF_USE_LEGACY_KERAS=1 is set before its first
import; importing spam_tf sets it, and refuses to go on if TensorFlow was
already imported without it (networks would silently lose their variables).
"""
import os
import sys

if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
  raise ImportError("import spam_tf before tensorflow, or set TF_USE_LEGACY_KERAS=1 "
                    "(TF-Agents needs Keras 2 from tf-keras)")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
# One TF thread per process: float reductions then add up in the same order in
# every process (a resumed run equals an uninterrupted one), and parallel seeds
# run as separate processes, one per core.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))  # what a Ray cluster's workers are sent
REPO_DIR = os.path.dirname(PACKAGE_DIR)  # bin/ and configs/ live here in a checkout
