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
from . import parallel  # noqa: F401  (DistributedDataParallel, imported on first use)
from .modules.transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,  # noqa: F401
                                  TransformerEncoder, TransformerEncoderLayer)
from .modules.conv_more import (Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, Fold,  # noqa: F401
                                Unfold)
from .modules.pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool3d, AdaptiveMaxPool1d,  # noqa: F401
                              AdaptiveMaxPool2d, AdaptiveMaxPool3d, AvgPool1d, AvgPool3d, LPPool1d, LPPool2d,
                              LPPool3d, MaxPool1d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
from .modules.padding import (CircularPad1d, CircularPad2d, CircularPad3d, ConstantPad1d,  # noqa: F401
                              ConstantPad2d, ConstantPad3d, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d,
                              ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, ZeroPad1d, ZeroPad2d,
                              ZeroPad3d)
from .modules.upsampling import (PixelShuffle, PixelUnshuffle, Upsample, UpsamplingBilinear2d,  # noqa: F401
                                 UpsamplingNearest2d)
from .modules.normalization_more import (BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d,  # noqa: F401
                                         LocalResponseNorm, RMSNorm)
from .modules.dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout  # noqa: F401
from .modules.lazy import LazyLinear  # noqa: F401
from .modules.channel_shuffle import ChannelShuffle  # noqa: F401
from .modules.fractional_pool import FractionalMaxPool2d  # noqa: F401
from .modules.adaptive import AdaptiveLogSoftmaxWithLoss  # noqa: F401
