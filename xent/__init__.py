"""xent: exact, stable and fast cross-entropy for NumPy arrays."""

from importlib import metadata as _metadata

from ._binary import binary_cross_entropy
from ._categorical import categorical_cross_entropy, sparse_categorical_cross_entropy
from ._config import show_config
from ._engine import get_num_threads, set_num_threads
from ._kl import kl_divergence
from ._linear import LinearGrads, linear_cross_entropy
from ._outputs import get_output_cache, set_output_cache
from ._primitives import log_sigmoid, log_softmax, logsumexp, softmax, softplus

try:
    __version__ = _metadata.version("xent")
except _metadata.PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "LinearGrads",
    "__version__",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "get_num_threads",
    "get_output_cache",
    "kl_divergence",
    "linear_cross_entropy",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "set_num_threads",
    "set_output_cache",
    "show_config",
    "softmax",
    "softplus",
    "sparse_categorical_cross_entropy",
]
