"""The readout network of the PyTorch Readout Bottleneck: readout feature maps -> alpha.

The same network as the TensorFlow port's (:mod:`iba_tf.tensorflow_v1.readout_network`), in
torch's channels-first layout: each readout map is standardised by its own statistics,
``(r - mean) / max(std, min_std)``; vectors (e.g. the logits) are broadcast to every position;
maps are resized bilinearly (corners aligned) to the bottleneck's size and concatenated along
the channels; three 1x1 convolutions ``C_in -> C_in / 2 -> 2 C_feat -> C_feat`` with ReLUs
between them predict alpha, clipped to ``[-5, 5]``. Sizes and initial weights come from the
framework-free :mod:`iba_tf.readout_spec`.
"""
import torch
import torch.nn.functional as F
from torch import nn

from ..readout_spec import ALPHA_LIMIT, initial_weights

__all__ = ["ReadoutNetwork", "clip_alpha", "check_readout"]


class _ClipAlpha(torch.autograd.Function):
    """Clip to ``[-5, 5]``; outside, the gradient passes only where it leads back in."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(-ALPHA_LIMIT, ALPHA_LIMIT)

    @staticmethod
    def backward(ctx, upstream):
        x, = ctx.saved_tensors
        # gradient descent moves x by -gradient: above 5 a positive gradient leads back in
        outward = ((x > ALPHA_LIMIT) & (upstream < 0)) | ((x < -ALPHA_LIMIT) & (upstream > 0))
        return torch.where(outward, torch.zeros_like(upstream), upstream)


def clip_alpha(x):
    """Clips ``x`` to ``[-5, 5]`` without freezing the neurons past the limit.

    With a plain clamp a neuron pushed past 5 never gets a gradient again (and the last layer
    starts at 5 exactly); here the gradient is dropped only where it would push further out.
    """
    return _ClipAlpha.apply(x)


def check_readout(name, value):
    """Raises unless ``value`` is a feature map ``(n, c, h, w)`` or a vector batch ``(n, k)``."""
    if not torch.is_tensor(value) or value.ndim not in (2, 4):
        raise ValueError(
            "IBAReadout: the readout layer {} outputs {}, which cannot be brought to the "
            "bottleneck's resolution: readout layers must output feature maps (n, c, h, w) or "
            "vectors (n, k), e.g. the logits.".format(
                name, tuple(value.shape) if torch.is_tensor(value) else type(value).__name__))


class ReadoutNetwork(nn.Module):
    """Three 1x1 convolutions that predict alpha ``(n, c, h, w)`` from the readout maps.

    Args:
        readout_channels (list): channels of each readout map (``k`` for a vector ``(n, k)``).
        feature_shape (tuple): the bottleneck's feature shape ``(c, h, w)``.
        seed (int): seed of :func:`iba_tf.readout_spec.initial_weights`.
    """

    def __init__(self, readout_channels, feature_shape, seed=0):
        super().__init__()
        self.feature_shape = tuple(int(d) for d in feature_shape)
        self.in_channels = int(sum(readout_channels))
        values = initial_weights(self.in_channels, self.feature_shape[0], seed)
        self.convs = nn.ModuleList(
            nn.Conv2d(kernel.shape[0], kernel.shape[1], 1) for kernel in values[::2])
        self.set_weights(values)

    def set_weights(self, values):
        """Sets the weights from the TensorFlow port's layout (kernels ``(in, out)``)."""
        with torch.no_grad():
            for conv, kernel, bias in zip(self.convs, values[::2], values[1::2]):
                kernel = torch.as_tensor(kernel, dtype=torch.float32).T[:, :, None, None]
                if tuple(kernel.shape) != tuple(conv.weight.shape) or \
                        tuple(bias.shape) != tuple(conv.bias.shape):
                    raise ValueError("IBAReadout: a readout weight has shape {}, expected {}."
                                     .format(tuple(kernel.shape[:2][::-1]),
                                             tuple(conv.weight.shape[:2][::-1])))
                conv.weight.copy_(kernel)
                conv.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    def get_weights(self):
        """Returns the weights in the TensorFlow port's layout (six numpy arrays)."""
        values = []
        for conv in self.convs:
            values += [conv.weight.detach()[:, :, 0, 0].T.cpu().numpy().copy(),
                       conv.bias.detach().cpu().numpy().copy()]
        return values

    def joined(self, readouts, statistics):
        """The standardised, resized and concatenated readout maps ``(n, C_in, h, w)``.

        Args:
            readouts (list): the raw readout maps of one batch.
            statistics (list): ``(mean, std)`` per map, std already clamped to ``min_std``.
        """
        _, height, width = self.feature_shape
        maps = []
        for value, (mean, std) in zip(readouts, statistics):
            standard = (value - mean.to(value)) / std.to(value)
            if standard.ndim == 2:
                standard = standard[:, :, None, None].expand(-1, -1, height, width)
            elif tuple(standard.shape[2:]) != (height, width):
                standard = F.interpolate(standard, size=(height, width), mode="bilinear",
                                         align_corners=True)
            maps.append(standard)
        return torch.cat(maps, dim=1)

    def forward(self, readouts, statistics):
        """Returns the clipped alpha ``(n, c, h, w)`` for the readout maps of a batch."""
        hidden = self.joined(readouts, statistics)
        for index, conv in enumerate(self.convs):
            hidden = conv(hidden)
            if index < len(self.convs) - 1:
                hidden = torch.relu(hidden)
        return clip_alpha(hidden)
