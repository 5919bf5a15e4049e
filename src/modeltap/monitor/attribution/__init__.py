"""Feature importances learned from data: the surrogate model behind feature attribution
drift and ``top_n_feature_importance``, and their cache in the results store."""
