import os
import sys

# Before TensorFlow is imported anywhere: keep its C++ start-up chatter out of the CLI output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TF 2.21 prints its oneDNN notice whatever the log level; without oneDNN the reference kernels
# also make the parity check's Keras side reproducible run to run. Exporting is not speed-bound.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from model_export.cli import main  # noqa: E402

sys.exit(main())
