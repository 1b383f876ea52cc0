"""The article's MLP (3 -> H ReLU -> 1, MSE, plain gradient descent) in TensorFlow and NumPy.

Importing this package does not import TensorFlow; `mlp_core.tf_train` does.
"""

from mlp_core import modes
from mlp_core.config import TrainConfig, TrainResult
from mlp_core.data import Data, make_data
from mlp_core.enums import Device, DTypeMode, ExecMode
from mlp_core.params import Params, init_params
from mlp_core.train import train

__all__ = [
    "Data",
    "DTypeMode",
    "Device",
    "ExecMode",
    "Params",
    "TrainConfig",
    "TrainResult",
    "init_params",
    "make_data",
    "modes",
    "train",
]
