"""Baseline attribution methods with innvestigate's calling convention.

innvestigate 1.0.9 builds its analyzers by rebuilding the model layer by layer. With Keras
2.3.1 this fails on some models: on the ``fer`` emotion model (BatchNorm, SeparableConv2D, Add)
the gradient and guided backprop analyzers stop with "The name ... is used 2 times in the
model", LRP and Deep Taylor with "got an unexpected keyword argument 'dtype'" (in its BatchNorm
rule), and whether integrated gradients works depends on how far Keras' layer-name counters
have advanced. This package gives the gradient family from plain ``tf.gradients`` on the
model's own graph, so it works on any differentiable Keras model; one method per module:

- :class:`Gradient` (``iba_tf.baselines.gradient``): the gradient of the selected output w.r.t. the input
  (Simonyan et al.).
- :class:`InputTimesGradient` (``iba_tf.baselines.input_times_gradient``): input times gradient (Shrikumar
  et al.).
- :class:`IntegratedGradients` (``iba_tf.baselines.integrated_gradients``): the path integral of the
  gradient from a baseline (Sundararajan et al. 2017), as a Riemann sum.
- :class:`Random` (``iba_tf.baselines.random``): seeded Gaussian noise, the floor every method should beat
  (innvestigate's Random returns the input plus noise, see ``NOT_FROM_INNVESTIGATE``).

All take ``Cls(model, neuron_selection_mode=...)`` and return ``analyze(X, neuron_selection)``
arrays of ``X.shape``, like innvestigate's analyzers, so either can be used in the same code
(e.g. :mod:`iba_tf.evaluation`). The gradient ops are added to the model's graph once, when the
analyzer is built; ``analyze`` only runs them. What they share (the model checks, neuron
selection, batching) is in ``iba_tf.baselines.base``.

:func:`create_analyzer` (``iba_tf.baselines.factory``) returns innvestigate's analyzer when innvestigate can
build *and* run it on the model (it tries one sample), else the iba_tf analyzer of the same
name, with a warning that names innvestigate's error; methods iba_tf does not implement (LRP,
guided backprop, ...) raise :class:`AnalyzerUnavailable` with that error instead.

Example:
    >>> from iba_tf.baselines import create_analyzer
    >>> analyzer = create_analyzer("integrated_gradients", model, neuron_selection_mode="index")
    >>> heatmaps = analyzer.analyze(x[:4], neuron_selection=[3, 1, 4, 1])    # x[:4].shape
"""
from .factory import (FALLBACKS, NOT_FROM_INNVESTIGATE, AnalyzerUnavailable, analyzer_source,
                      create_analyzer)
from .gradient import Gradient
from .input_times_gradient import InputTimesGradient
from .integrated_gradients import IntegratedGradients
from .random import Random

__all__ = ["Gradient", "InputTimesGradient", "IntegratedGradients", "Random",
           "AnalyzerUnavailable", "create_analyzer", "FALLBACKS", "NOT_FROM_INNVESTIGATE",
           "analyzer_source"]
