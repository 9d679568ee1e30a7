"""Raw strings to a model's graph inputs: the declared text steps (`spec.py`) and their implementation."""
