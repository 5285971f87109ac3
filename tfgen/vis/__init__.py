"""Visualisation: image grids, chain animations, tf-keras-vis wrappers."""
