"""Machine learning: tagging (policy text -> tags, business scope -> industry), the
LightGBM ranker, features, training, evaluation and the model registry."""
