"""The forward hooks that put a PyTorch bottleneck on a layer's output or input."""
import torch
from torch import nn

__all__ = ["register_bottleneck"]


def _check_tensor(value, what):
    if not torch.is_tensor(value):
        raise TypeError("IBA: the layer's {} is a {}, not a tensor; attach the bottleneck to a "
                        "layer with a single tensor {}.".format(what, type(value).__name__,
                                                               what))


def register_bottleneck(bottleneck, layer, input_or_output):
    """Hooks ``bottleneck`` onto ``layer`` so that it replaces the layer's output (or input).

    Args:
        bottleneck (nn.Module): called on the tensor, its result replaces it.
        layer (nn.Module): the hooked layer.
        input_or_output (str): ``"output"`` or ``"input"`` (the first positional input).

    Returns:
        torch.utils.hooks.RemovableHandle: ``remove()`` restores the layer.
    """
    if not isinstance(layer, nn.Module):
        raise TypeError("IBA: layer must be an nn.Module (or None), got {!r}."
                        .format(type(layer).__name__))
    if input_or_output == "output":
        def hook(module, inputs, output):
            _check_tensor(output, "output")
            return bottleneck(output)
        return layer.register_forward_hook(hook)

    def pre_hook(module, inputs):
        if not inputs:
            raise TypeError("IBA: {} was called without a positional input."
                            .format(type(module).__name__))
        _check_tensor(inputs[0], "input")
        return (bottleneck(inputs[0]),) + tuple(inputs[1:])
    return layer.register_forward_pre_hook(pre_hook)
