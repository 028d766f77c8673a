"""Scoring new products: the model bundle, the predictor, the cascade, batch scoring with its drift report and resumable progress."""
