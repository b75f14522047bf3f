"""The predict pipeline: new imagery + a trained model -> buildings, with no labels and no training run."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
