"""Demo models: trained, exported and checked in one command (`python -m model_export.demos.digits`)."""
