"""Heads that turn feature blocks into class probabilities (one `Head` type: XGBoost, linear, softmax, offset, fusion), fitted through their registry, and their metrics."""
