"""Metrics: sample quality seen through a locally trained classifier."""

from tfgen.metrics.classifier import ClassifierBundle
from tfgen.metrics.classifier import get_classifier
from tfgen.metrics.classifier import TrainingSettings
from tfgen.metrics.sample_quality import classes_covered
from tfgen.metrics.sample_quality import classifier_score
from tfgen.metrics.sample_quality import evaluate_images
from tfgen.metrics.sample_quality import evaluate_real_images
from tfgen.metrics.sample_quality import frechet_distance
from tfgen.metrics.sample_quality import mean_top_probability
from tfgen.metrics.sample_quality import nearest_neighbour_distance
from tfgen.metrics.sample_quality import nearest_neighbour_distances
