"""Plotting of saliency maps with matplotlib."""
import numpy as np

__all__ = ["plot_saliency_map"]


def plot_saliency_map(saliency_map, img=None, ax=None, colorbar_label="Bits / Pixel",
                      colorbar_fontsize=14, min_alpha=0.2, max_alpha=0.7, vmax=None,
                      colorbar_size=0.3, colorbar_pad=0.08):
    """Plots a saliency map with a bits/pixel colour bar, optionally over an image.

    Over an image, each pixel's heat colour is drawn with an opacity between ``min_alpha``
    (least salient) and ``max_alpha`` (most salient), so the image stays visible where the map
    carries no information.

    Args:
        saliency_map (np.ndarray): 2-D map ``(h, w)``.
        img (np.ndarray): image ``(h, w)`` or ``(h, w, 3)`` shown below the map; float images
            are scaled to ``[0, 1]`` for display.
        ax: matplotlib axis; None creates a new figure.
        colorbar_label (str): label of the colour bar.
        colorbar_fontsize (int): font size of that label.
        min_alpha (float): opacity of the least salient pixels (with ``img`` only).
        max_alpha (float): opacity of the most salient pixels (with ``img`` only).
        vmax (float): top of the colour scale; None uses the map's maximum.
        colorbar_size (float): width of the colour bar in inches.
        colorbar_pad (float): gap between the image and the colour bar in inches.

    Returns:
        The matplotlib axis.

    Example:
        >>> ax = plot_saliency_map(saliency, img=image)
        >>> ax.figure.savefig("saliency.png")
    """
    import matplotlib.pyplot as plt
    from matplotlib import colors

    saliency_map = np.asarray(saliency_map, dtype=np.float64)
    if saliency_map.ndim != 2:
        raise ValueError("plot_saliency_map expects a 2-D map (h, w); got shape {}."
                         .format(saliency_map.shape))
    if ax is None:
        _, ax = plt.subplots(1, 1, figsize=(5, 4))
    vmax = float(saliency_map.max()) if vmax is None else float(vmax)
    norm = colors.Normalize(vmin=0, vmax=vmax if vmax > 0 else 1.0)
    cmap = plt.get_cmap("jet")
    if img is None:
        ax.imshow(saliency_map, cmap=cmap, norm=norm)
    else:
        _show_over_image(ax, saliency_map, img, norm, cmap, min_alpha, max_alpha)
    ax.set_xticks([])
    ax.set_yticks([])
    _add_colorbar(ax, saliency_map, norm, cmap, colorbar_label, colorbar_fontsize,
                  colorbar_size, colorbar_pad)
    return ax


def _show_over_image(ax, saliency_map, img, norm, cmap, min_alpha, max_alpha):
    """Shows ``img``, then the map's colours with an opacity that grows with the relevance."""
    from .utils import to_unit_interval
    img = np.asarray(img)
    if img.shape[:2] != saliency_map.shape:
        raise ValueError("img of shape {} does not match the saliency map's shape {}."
                         .format(img.shape, saliency_map.shape))
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.dtype != np.uint8:
        img = to_unit_interval(img)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
    relevance = np.clip(norm(saliency_map), 0, 1)
    overlay = cmap(relevance)
    overlay[..., 3] = min_alpha + (max_alpha - min_alpha) * relevance
    ax.imshow(overlay)


def _add_colorbar(ax, saliency_map, norm, cmap, label, fontsize, size, pad):
    """A colour bar of fixed width (inches) right of ``ax``."""
    from matplotlib import cm
    from mpl_toolkits.axes_grid1 import axes_size, make_axes_locatable
    divider = make_axes_locatable(ax)
    cax = divider.append_axes("right", size=axes_size.Fixed(size), pad=axes_size.Fixed(pad))
    mappable = cm.ScalarMappable(norm=norm, cmap=cmap)
    mappable.set_array(saliency_map)
    colorbar = ax.figure.colorbar(mappable, cax=cax)
    colorbar.set_label(label, fontsize=fontsize)
