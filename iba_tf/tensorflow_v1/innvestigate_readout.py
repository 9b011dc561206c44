"""IBAReadoutInnvestigate: the trained Readout Bottleneck as an innvestigate analyzer."""
import numpy as np
from innvestigate.analyzer.base import AnalyzerBase

from .innvestigate_analyzer import read_saved_analyzer
from .readout import IBAReadout
from . import readout_io

__all__ = ["IBAReadoutInnvestigate"]

OUTPUTS = ("saliency", "input")


class IBAReadoutInnvestigate(AnalyzerBase):
    """The Readout Bottleneck with innvestigate's analyzer API.

    After ``import iba_tf``, ``innvestigate.create_analyzer("iba_readout", model,
    readout=readout)`` returns this analyzer for a trained :class:`~iba_tf.IBAReadout`; or give
    ``attach_layer`` and ``readout_layers`` and train it with :meth:`fit`.

    The readout explains no selected class (it sees the class only through its readout layers,
    e.g. the logits), so ``neuron_selection_mode`` must be ``"max_activation"`` and
    :meth:`analyze` takes no ``neuron_selection``.

    Args:
        model (keras.Model): the model (logits output).
        readout (IBAReadout): a readout for ``model``; None creates one from ``attach_layer``,
            ``readout_layers`` and ``readout_kwargs``.
        output (str): ``"saliency"``: bits per pixel ``(N, H, W)``; ``"input"``: repeated over
            the channels to ``X.shape``, as innvestigate's analyzers return.
        batch_size (int): inputs per session run of :meth:`analyze`.

    Example:
        >>> analyzer = innvestigate.create_analyzer("iba_readout", model, readout=readout)
        >>> saliency = analyzer.analyze(x_test[:64])
    """

    def __init__(self, model, readout=None, attach_layer=None, readout_layers=None,
                 neuron_selection_mode="max_activation", output="saliency", batch_size=64,
                 disable_model_checks=False, **readout_kwargs):
        if neuron_selection_mode != "max_activation":
            raise ValueError(
                "The Readout Bottleneck explains no selected class, so neuron_selection_mode "
                "must be 'max_activation', got {!r}. For a chosen class use the Per-Sample "
                "Bottleneck (create_analyzer('iba', ...)).".format(neuron_selection_mode))
        if output not in OUTPUTS:
            raise ValueError("output must be one of {}, got {!r}.".format(OUTPUTS, output))
        if readout is None:
            if attach_layer is None or readout_layers is None:
                raise ValueError("Give a trained readout=IBAReadout(...), or attach_layer and "
                                 "readout_layers to train one with fit(X).")
            readout = IBAReadout(attach_layer, readout_layers, model, **readout_kwargs)
        elif not isinstance(readout, IBAReadout) or readout.model is not model:
            raise ValueError("readout must be an IBAReadout built for this model, got {!r}."
                             .format(readout))
        super().__init__(model, disable_model_checks=disable_model_checks)
        self.readout = readout
        self._output = output
        self._batch_size = int(batch_size)

    def fit(self, X, y=None, epochs=1, n_samples=5000, verbose=0):
        """Estimates the statistics on ``X`` and trains the readout on ``(X, y)``.

        ``y`` (class indices or one-hot) defaults to the model's own predictions.
        """
        X = np.asarray(X)
        self.readout.estimate(X[:n_samples], n_samples=min(n_samples, len(X)),
                              progbar=bool(verbose))
        # batches of inputs only are explained for the model's own prediction
        data = [X[i:i + 32] for i in range(0, len(X), 32)] if y is None else (X, np.asarray(y))
        return self.readout.train(data, epochs=epochs, progbar=bool(verbose))

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1, **kwargs):
        """Trains the readout on a generator of ``(x, y)`` (statistics estimated first)."""
        return self.readout.fit_generator(generator, steps_per_epoch, epochs, verbose=verbose,
                                          **kwargs)

    def analyze(self, X):
        """Returns one map per sample of ``X``, in one pass per batch (no optimisation)."""
        saliency = self.readout.analyze(np.asarray(X), batch_size=self._batch_size)
        if self._output == "input":
            saliency = np.repeat(saliency[..., None], np.shape(X)[-1], axis=-1)
        return saliency

    def _get_state(self):
        state = super()._get_state()
        state.update(readout=readout_io.to_arrays(self.readout), output=self._output,
                     batch_size=self._batch_size)
        return state

    @classmethod
    def _state_to_kwargs(cls, state):
        state = dict(state)
        readout = state.pop("readout")
        kwargs = dict(output=state.pop("output"), batch_size=state.pop("batch_size"))
        kwargs.update(super()._state_to_kwargs(state))
        kwargs["readout"] = IBAReadout.from_saved(readout_io.from_arrays(readout),
                                                  kwargs["model"])
        return kwargs

    @staticmethod
    def load(class_name, state):
        """Rebuilds an analyzer from ``save()``'s ``(class_name, state)``."""
        if class_name != IBAReadoutInnvestigate.__name__:
            return AnalyzerBase.load(class_name, state)
        return IBAReadoutInnvestigate(**IBAReadoutInnvestigate._state_to_kwargs(state))

    @staticmethod
    def load_npz(fname):
        """Rebuilds an analyzer from a file written by ``save_npz()``."""
        return IBAReadoutInnvestigate.load(*read_saved_analyzer(fname))

