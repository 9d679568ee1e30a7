import os
import sys

# Before TensorFlow is imported anywhere: keep its C++ start-up chatter out of the CLI output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from model_export.cli import main  # noqa: E402

sys.exit(main())
