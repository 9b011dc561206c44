"""Plots of the curves (matplotlib) and plain markdown tables of the results.

Example:
    >>> fig = plot_degradation({"IBA": iba_result, "Gradient": grad_result}, title="MNIST")
    >>> fig.savefig("degradation.png")
    >>> print(markdown_table(["method", "area"], [["IBA", 0.41], ["Gradient", 0.22]]))
"""
import math
import warnings

import numpy as np

__all__ = ["plot_degradation", "plot_sanity", "markdown_table", "format_value"]


def format_value(value, digits=3):
    """Formats a table cell: floats with ``digits`` decimals, NaN as ``nan``, others as str."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "nan" if math.isnan(value) else "{:.{}f}".format(value, digits)
    return str(value)


def markdown_table(header, rows, digits=3):
    """Returns a markdown table as a string.

    Args:
        header (list): column titles.
        rows (list): one list of cells per row (floats are formatted with ``digits``).

    Example:
        >>> print(markdown_table(["method", "area"], [["IBA", 0.4123]]))
        | method | area |
        |---|---|
        | IBA | 0.412 |
    """
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError("A row has {} cells for {} columns: {!r}.".format(
                len(row), len(header), row))
        lines.append("| " + " | ".join(format_value(c, digits).replace("|", "/")
                                       for c in row) + " |")
    return "\n".join(lines)


def _axes(ax, figsize):
    import matplotlib.pyplot as plt
    if ax is None:
        figure, ax = plt.subplots(1, 1, figsize=figsize)
        return figure, ax
    return ax.figure, ax


def plot_degradation(results, ax=None, title=None, figsize=(8.5, 4.5)):
    """Plots the MoRF (solid) and LeRF (dashed) curves of several methods in one axis.

    Args:
        results (dict): method name -> :class:`DegradationResult`.
        ax: a matplotlib axis; None makes a new figure.
        title (str): axis title.

    Returns:
        matplotlib.figure.Figure
    """
    figure, ax = _axes(ax, figsize)
    colors = _colors(len(results))
    for color, (name, result) in zip(colors, results.items()):
        ax.plot(result.fractions, result.morf, "-", color=color,
                label="{} ({:.3f})".format(name, result.area))
        ax.plot(result.fractions, result.lerf, "--", color=color)
    ax.set_xlabel("share of tiles replaced")
    ax.set_ylabel("normalised target score")
    ax.set_title(title or "Degradation: MoRF solid, LeRF dashed")
    ax.legend(title="area LeRF - MoRF", fontsize=7, title_fontsize=7, loc="upper left",
              bbox_to_anchor=(1.02, 1))
    ax.grid(alpha=0.3)
    _tight(figure)
    return figure


def plot_sanity(results, ax=None, title=None, figsize=(8.5, 4.5)):
    """Plots the mean rank correlation after each randomisation step, one line per method.

    Args:
        results (dict): method name -> :class:`SanityResult`.

    Returns:
        matplotlib.figure.Figure
    """
    figure, ax = _axes(ax, figsize)
    colors = _colors(len(results))
    labels = None
    for color, (name, result) in zip(colors, results.items()):
        steps = np.arange(len(result.labels) + 1)
        ax.plot(steps, np.concatenate([[1.], result.mean_correlation]), "o-", color=color,
                label=name, markersize=3)
        labels = labels or result.labels
    if labels:
        ax.set_xticks(np.arange(len(labels) + 1))
        ax.set_xticklabels(["trained"] + ["+" + _short(l) for l in labels], rotation=60,
                           ha="right", fontsize=7)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("Spearman rho vs. the trained map")
    ax.set_title(title or "Cascading randomisation (top layer first)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    ax.grid(alpha=0.3)
    _tight(figure)
    return figure


def _tight(figure):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # long labels: best effort
        figure.tight_layout()


def _short(label):
    """``a+b+c+d`` -> ``a (+3)``: a step that randomises many layers gets a short tick."""
    parts = label.split("+")
    return label if len(parts) <= 2 else "{} (+{})".format(parts[0], len(parts) - 1)


def _colors(n):
    import matplotlib.pyplot as plt
    cmap = plt.get_cmap("tab10")
    return [cmap(i % 10) for i in range(n)]
