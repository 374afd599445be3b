"""Neural-network modules, functional forms and initialisers (ember.nn mirrors torch.nn)."""

from . import functional, init  # noqa: F401
from .module import Module, StateDictKeyError, RemovableHandle  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
from .modules.container import ModuleDict, ModuleList, Sequential  # noqa: F401
from .modules.linear import Embedding, Flatten, Identity, Linear, Unflatten  # noqa: F401
from .modules.conv import AdaptiveAvgPool2d, AvgPool2d, Conv1d, Conv2d, MaxPool2d  # noqa: F401
from .modules.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm  # noqa: F401
from .modules.activation import Dropout, GELU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh  # noqa: F401
from .modules.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from .modules.activations_more import (CELU, ELU, GLU, Hardshrink, Hardsigmoid, Hardswish, Hardtanh,  # noqa: F401
                                       LeakyReLU, LogSigmoid, Mish, PReLU, ReLU6, RReLU, SELU, Softmax2d, Softmin,
                                       Softplus, Softshrink, Softsign, Tanhshrink, Threshold)
from .modules.losses_more import (CTCLoss, CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss,  # noqa: F401
                                  HuberLoss, KLDivLoss, MarginRankingLoss, MultiLabelMarginLoss,
                                  MultiLabelSoftMarginLoss, MultiMarginLoss, PoissonNLLLoss, SmoothL1Loss,
                                  SoftMarginLoss, TripletMarginLoss, TripletMarginWithDistanceLoss)
from .modules.attention import MultiheadAttention  # noqa: F401
from .modules.container import ParameterDict, ParameterList  # noqa: F401
from .modules.misc import Bilinear, CosineSimilarity, EmbeddingBag, PairwiseDistance  # noqa: F401
from .modules.rnn import GRU, GRUCell, LSTM, LSTMCell, RNN, RNNBase, RNNCell, RNNCellBase  # noqa: F401
from . import utils  # noqa: F401
