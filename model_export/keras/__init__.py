"""Reading a Keras source: loading it, deciding its head, and with_sigmoid() for inference in Keras."""
