"""The seed methods that IBALayer and IBACopy share, delegating to the bottleneck engine.

A host class (the Keras layer, the graph copy) composes a :class:`~.bottleneck.Bottleneck`,
an :class:`~.objective.Objective` and :class:`~.statistics.FeatureStatistics`, and says three
things about where it lives: which tensor is the feature (``_feature_tensor``), which
session computes it from the model's inputs (``_feature_session``) and which session holds
the bottleneck (``_bottleneck_session``). Everything else (defaults, reports, fitting,
``restrict_flow``, state) is the same for both and lives here.
"""
import contextlib
import threading

from .compat import tf
from .. import hyperparameters
from ..checks import check_finite, check_not_closed, check_result
from ..welford import validate_state
from ..utils import get_tqdm
from .loop import OptimizationLoop
from .objective import REPORT_VARIABLES, Objective, check_model_loss, classification_loss
from .optimization import Optimization, targets_feed
from .statistics import FeatureStatistics

__all__ = ["BottleneckMethods"]

#: analyses of this many different shapes (samples x noise samples) get a loop of static
#: shapes each; later shapes share one loop for any shape
STATIC_LOOPS = 4
STATE_KEYS = ("estimator", "feature_mean", "feature_std", "feature_active", "defaults")


class BottleneckMethods:
    """Mixin with the documented methods of a Per-Sample Bottleneck (see IBALayer).

    Attributes:
        in_graph_loop (bool): run all steps of an analysis in one ``session.run`` (default
            True; see :mod:`~iba_tf.tensorflow_v1.loop`).
        loop_fallback (str): why the loop could not be built for the current loss (the
            analysis then runs step by step), or None.
    """

    def _init_methods(self, estimator, feature_mean, feature_std, feature_active, defaults):
        self._defaults = hyperparameters.merge(hyperparameters.DEFAULTS, **defaults)
        self._statistics = FeatureStatistics(estimator, feature_mean, feature_std,
                                             feature_active)
        self._bottleneck = None     # the engine; created where the feature's shape is known
        self._objective = None
        self._collected = set()
        self._report = None
        self._analyzed = False
        self._restriction = None    # the ops of last_restriction, built on first use
        self.in_graph_loop = True
        self.loop_fallback = None
        self._loops = {}
        self._n_classes = None
        # one analysis at a time: all share alpha, Adam's moments and the configuration
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ the host's part
    def _feature_tensor(self):
        """The feature tensor that :meth:`fit` evaluates."""
        raise NotImplementedError

    def _feature_session(self, session):
        """The session that computes the feature map from the model inputs."""
        raise NotImplementedError

    def _bottleneck_session(self, session):
        """The session that holds the bottleneck's variables."""
        raise NotImplementedError

    # ------------------------------------------------------------------ hyperparameters
    def set_default(self, batch_size=None, steps=None, beta=None, learning_rate=None,
                    min_std=None, smooth_std=None, normalize_beta=None):
        """Updates the default hyperparameter values (None leaves a value as it is)."""
        self._defaults = hyperparameters.merge(self._defaults, **dict(
            batch_size=batch_size, steps=steps, beta=beta, learning_rate=learning_rate,
            min_std=min_std, smooth_std=smooth_std, normalize_beta=normalize_beta))

    def get_default(self):
        """Returns the default hyperparameter values as a dict."""
        return dict(self._defaults)

    def _analysis_settings(self, **overrides):
        """Checks that a loss is set and returns the defaults merged with the overrides."""
        if self._objective is None:
            raise RuntimeError("No loss to explain: call set_classification_loss(...) or "
                               "set_model_loss(loss) first.")
        return hyperparameters.merge(self._defaults, **overrides)

    # ------------------------------------------------------------------ report
    def collect(self, *var_names):
        """Marks the named variables to be recorded at every step of the next analyses.

        See :meth:`available_report_variables` for the names; :meth:`get_report` returns them.
        """
        unknown = [name for name in var_names if name not in REPORT_VARIABLES]
        if unknown:
            raise ValueError("Unknown report variable(s) {}; available are {}.".format(
                unknown, ", ".join(REPORT_VARIABLES)))
        self._collected.update(var_names)

    def collect_all(self):
        """Marks every report variable to be recorded (slows the optimisation down a little)."""
        self.collect(*REPORT_VARIABLES)

    def available_report_variables(self):
        """Returns the names that :meth:`collect` accepts."""
        return list(REPORT_VARIABLES)

    def get_report(self):
        """Returns the values recorded during the last analysis.

        Returns:
            OrderedDict: ``{"init": {...}, 0: {...}, 1: {...}, ..., "final": {...}}``; each
            entry maps the collected names to numpy values. ``"init"`` is before the first step,
            ``"final"`` after the last one.
        """
        if self._report is None:
            raise RuntimeError("No report yet: call collect(...) and then analyze(...).")
        return self._report

    # ------------------------------------------------------------------ statistics
    @property
    def estimator(self):
        """The WelfordEstimator that :meth:`fit` fills."""
        return self._statistics.estimator

    def fit(self, feed_dict, session=None, run_kwargs=None):
        """Adds the feature maps computed from ``feed_dict`` to the mean/std estimate.

        Ensure your model is in inference mode (Keras: the default learning phase).

        Example:
            >>> iba.fit({model.input: images})
        """
        feed_dict = self._checked_feed(feed_dict)
        with self._lock:
            values = self._feature_session(session).run(
                self._feature_tensor(), feed_dict=feed_dict, **(run_kwargs or {}))
            check_finite(values, "The feature map computed from feed_dict",
                         "check the model and its inputs")
            self._statistics.estimator.update(values)

    def _checked_feed(self, feed_dict):
        """Returns ``feed_dict`` as a dict; refuses NaN/inf in its float arrays."""
        if not isinstance(feed_dict, dict):
            raise TypeError("feed_dict must be a dict {{placeholder: value}}, got {!r}."
                            .format(type(feed_dict).__name__))
        for key, value in feed_dict.items():
            check_finite(value, "The value fed to {}".format(getattr(key, "name", key)),
                         "replace or drop the non-finite values of the input")
        return dict(feed_dict)

    def fit_generator(self, generator, n_samples=5000, progbar=True, session=None,
                      run_kwargs=None):
        """Estimates the feature mean/std from a generator of ``feed_dict`` s.

        Args:
            generator: yields feed_dicts with the inputs of all placeholders.
            n_samples (int): stop once this many samples were seen.
            progbar (bool): show a progress bar.
            session (tf.Session): session to use; None uses the default/Keras session.
            run_kwargs (dict): extra keyword arguments of ``session.run``.
        """
        session = self._feature_session(session)
        estimator = self._statistics.estimator
        start = estimator.n_samples()
        with get_tqdm()(total=n_samples, disable=not progbar, desc="Estimating",
                        unit="sample") as bar:
            for feed_dict in generator:
                self.fit(feed_dict, session=session, run_kwargs=run_kwargs)
                seen = estimator.n_samples() - start
                bar.update(min(seen, n_samples) - bar.n)
                if seen >= n_samples:
                    break

    # ------------------------------------------------------------------ objective
    def _classification_objective(self, logits, optimizer_cls):
        """Builds the classification objective on ``logits``; returns the target placeholder."""
        self._require_engine()
        target, per_row = classification_loss(logits, self._bottleneck.noise_samples,
                                              self._scope_name("loss"))
        self._set_objective(per_row, optimizer_cls, target=target)
        self._n_classes = tf.dimension_value(logits.shape[-1])
        return target

    def _model_objective(self, model_loss, optimizer_cls):
        check_model_loss(model_loss)
        self._set_objective(model_loss, optimizer_cls)
        self._n_classes = None

    def _set_objective(self, model_loss, optimizer_cls, target=None):
        if optimizer_cls not in (None, tf.train.AdamOptimizer):
            raise ValueError("Only tf.train.AdamOptimizer is supported as optimizer_cls, got {!r}."
                             .format(optimizer_cls))
        self._require_engine()
        self._objective = Objective(self._bottleneck, model_loss, target,
                                    name=self._scope_name("optimizer"))
        self._loops = {}
        self.loop_fallback = None

    def _scope_name(self, suffix):
        return "{}_{}".format(getattr(self, "name", "bottleneck"), suffix)

    def _require_engine(self):
        if self._bottleneck is None or not self._bottleneck.applications:
            raise RuntimeError("The IBALayer is not part of a model yet: add it to a model "
                               "(or call it on a tensor) first.")

    # ------------------------------------------------------------------ analysis
    def _optimize(self, session, feature, feed_dict, settings, pass_mask, progbar,
                  repeated=None):
        """Runs the optimisation for the feature value(s) and returns the capacity.

        On any failure (including a non-finite result) alpha and the configuration are
        restored, so that :meth:`restrict_flow` still replays the last successful analysis.
        """
        with self._lock:
            check_finite(feature, "The feature map at the bottleneck",
                         "check the model's inputs and weights")
            feed_dict = targets_feed(self._objective, feed_dict, feature.shape[0],
                                     self._n_classes)
            statistics = self._statistics.arrays(self._bottleneck.feature_shape)
            optimization = Optimization(self._bottleneck, self._objective, settings,
                                        statistics, pass_mask)
            previous = self._bottleneck.snapshot(session) if self._analyzed else None
            try:
                loop = self._loop(progbar, feature.shape[0], settings["batch_size"])
                capacity, report = optimization.run(session, feature, feed_dict,
                                                    self._collected, progbar, repeated, loop)
                check_result(capacity, "The analysis")
                check_not_closed(capacity, "The analysis", statistics[2], pass_mask)
            except BaseException:
                if previous is not None:
                    self._bottleneck.restore(session, previous)
                raise
            # Not through Keras 2.14's attribute tracking, which would wrap the report and sort
            # its keys (str and int steps do not sort)
            object.__setattr__(self, "_report", report)
            self._analyzed = True
        return capacity[0] if feature.shape[0] == 1 else capacity

    def _loop(self, progbar, rows, noise_samples):
        """The in-graph loop for the collected names (built on first use), or None.

        A loop is built for each of the first :data:`STATIC_LOOPS` shapes (``rows`` samples,
        ``noise_samples`` each), whose static shapes leave a step about 40% fewer ops, then
        one for any shape (so the graph stops growing). None (the step-by-step path) with a
        progress bar, with ``in_graph_loop = False``, or where the loop cannot be built;
        :attr:`loop_fallback` then says why.
        """
        if progbar or not self.in_graph_loop:
            return None
        collected = tuple(sorted(self._collected))
        key = (collected, int(rows), int(noise_samples))
        if key not in self._loops and sum(k[0] == collected and k[1] is not None
                                          for k in self._loops) >= STATIC_LOOPS:
            key = (collected, None, None)
        if key not in self._loops:
            try:
                self._loops[key] = OptimizationLoop(self._bottleneck, self._objective,
                                                    collected, rows=key[1],
                                                    noise_samples=key[2],
                                                    name=self._scope_name("loop"))
            except (ValueError, TypeError, LookupError) as error:
                # not an error: the step-by-step path gives the same result, only slower
                self._loops[key] = None
                self.loop_fallback = str(error)
        return self._loops[key]

    def last_restriction(self, session=None):
        """The mask and noise statistics of the last analysis, as numpy arrays.

        ``Z = lambda * R + (1 - lambda) * (mean + std * eps)`` on active neurons (inactive
        ones give 0), as in the optimisation; InputIBA's GAN stage draws its "real" samples
        so.

        Returns:
            dict: ``lambda`` (the final blurred mask, one row per explained sample),
            ``mean``, ``std`` (clamped by ``min_std``) and ``active``, feature-shaped.

        Raises:
            RuntimeError: before the first analysis.
        """
        if not self._analyzed:
            raise RuntimeError("last_restriction reads the mask of the last analysis: call "
                               "analyze(...) first.")
        if self._restriction is None:
            bottleneck = self._bottleneck
            with bottleneck.alpha.graph.as_default():
                state = bottleneck.state()
                tensors = {"lambda": bottleneck.lambdas()[1], "mean": state.mean,
                           "std": state.std, "active": state.active}
            object.__setattr__(self, "_restriction", tensors)
        with self._lock:
            return self._bottleneck_session(session).run(self._restriction)

    @contextlib.contextmanager
    def restrict_flow(self, session=None):
        """Context manager in which the bottleneck adds noise with the alpha of the last analysis.

        Inside, the model's forward pass sees ``Z`` instead of the feature (one noise draw per
        row), e.g. to see how the prediction changes. The previous state is restored on exit,
        also when the body raises.

        Example:
            >>> capacity = iba.analyze({model.input: x, target: 3})
            >>> with iba.restrict_flow():
            ...     logits_restricted = model.predict(x)
        """
        if not self._analyzed:
            raise RuntimeError("restrict_flow uses the alpha found by analyze(): call "
                               "analyze(...) first.")
        # holds the lock: another thread's analysis would change alpha under the body
        with self._lock:
            session = self._bottleneck_session(session)
            bottleneck = self._bottleneck
            session.run(bottleneck.initialize_flag)
            previous = session.run(bottleneck.restrict_flow_flag)
            session.run(bottleneck.set_flag, {bottleneck.flag_value: True})
            try:
                yield
            finally:
                session.run(bottleneck.set_flag, {bottleneck.flag_value: previous})

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """Returns the state (estimator, statistics, defaults) as a picklable dict."""
        state = self._statistics.state_dict()
        state["defaults"] = self.get_default()
        return state

    def load_state_dict(self, state):
        """Restores a state from :meth:`state_dict`; checks it against the feature shape.

        Nothing changes unless the whole state fits.

        Raises:
            ValueError: if the state does not fit (names the mismatch).
        """
        if not isinstance(state, dict) or set(state) != set(STATE_KEYS):
            raise ValueError("A bottleneck state must be a dict with the keys {}, as returned "
                             "by state_dict().".format(sorted(STATE_KEYS)))
        validate_state(state["estimator"])
        if not isinstance(state["defaults"], dict):
            raise ValueError("The state's defaults must be a dict of hyperparameters, got {!r}."
                             .format(type(state["defaults"]).__name__))
        self._statistics.check_state(state, self._bottleneck.feature_shape
                                     if self._bottleneck is not None else None)
        try:
            defaults = hyperparameters.merge(self._defaults, **state["defaults"])
        except TypeError as error:
            raise ValueError("The state's defaults are invalid: {}".format(error)) from None
        with self._lock:
            self._statistics.load_state_dict(state)
            self._defaults = defaults
