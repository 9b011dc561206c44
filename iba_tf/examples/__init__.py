"""Runnable examples: ``python -m iba_tf.examples.quickstart``."""
