"""The trained category classifier: a message's first-level class (the government's seven).

    from hotline.classifier import load_model
    prediction = load_model().predict("小区停水三天了")  # .label, .confidence, .candidates
"""

from hotline.classifier.model import Model, ModelError, Prediction, load_model

__all__ = ["Model", "ModelError", "Prediction", "load_model"]
