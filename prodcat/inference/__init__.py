"""Scoring new products: the model bundle, the predictor, batch scoring with its drift report, the online service."""
