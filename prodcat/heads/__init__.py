"""Heads that turn feature blocks into class probabilities (one `Head` type: XGBoost, linear, softmax, fusion) and their metrics."""
