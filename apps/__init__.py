"""Command-line entry points (absl apps); the only place that defines flags."""
