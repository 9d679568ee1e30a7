"""Raw-text inputs: what a Keras text layer becomes (a text step), the texts that test it, predicting as served."""
