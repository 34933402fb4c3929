"""Modeling (train, promote, score): labels, split, the model pipeline and its fitted preparation, metrics, prediction rows."""
