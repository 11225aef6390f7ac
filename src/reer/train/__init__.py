"""Training: supervised fine-tuning on REER data (``reer train``) and trying the result (``reer generate``)."""

from reer.train.trainer import TrainResult, train

__all__ = ["TrainResult", "train"]
