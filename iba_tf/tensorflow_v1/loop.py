"""All steps of one analysis in one ``session.run``: the optimisation as a ``tf.while_loop``.

Run step by step, every step of an analysis is a ``session.run`` whose fixed cost (feeding,
scheduling the bottleneck's small ops one by one, Python) exceeds the work of a small model's
tail. :class:`OptimizationLoop` builds the same optimisation as one in-graph loop: alpha and
Adam's moments are loop variables; each iteration draws fresh noise, runs a copy of the tail
(the ops between the bottleneck and the model loss, imported into the loop body), computes the
objective and its gradient with the same ops as the step-by-step path, and applies Adam. The
values that do not depend on alpha (the folded noise terms, the normalised feature) are
computed once per analysis, outside the loop. The per-step report values are gathered in
TensorArrays. The run also configures the bottleneck and writes the final alpha back, so
``restrict_flow`` replays the analysis as before.

Where the tail cannot live in a loop body (see ``graph.loop_body_tail``), the explainers
fall back to the step-by-step path of :mod:`.optimization`.
"""
import collections

from .compat import tf, control_flow_v1
from . import ops
from .bottleneck import INITIAL_ALPHA, draw_noise, lambdas, noise_terms, noisy_feature
from .graph import loop_body_tail
from .objective import alpha_gradient, evaluate, information_terms

__all__ = ["OptimizationLoop"]


class OptimizationLoop:
    """The optimisation of one objective as one ``tf.while_loop`` in the bottleneck's graph.

    Built once per objective and set of collected report names; every analysis feeds it.

    Args:
        bottleneck (Bottleneck): the engine.
        objective (Objective): the objective (its application, model loss and target).
        collected (tuple): report names to gather at every step.
        rows (int): the number of samples every run explains, or None (any number).
        noise_samples (int): the noise samples per sample every run uses, or None (any).
        name (str): name scope.

    With ``rows`` and ``noise_samples`` every tensor of the loop body has a static shape, so
    the gradient needs none of the run-time shape arithmetic of broadcasting (``Shape``,
    ``BroadcastGradientArgs``, ``Sum``, ``Reshape``), which is most of the ops of a step.

    Raises:
        ValueError: (``graph.NotLoopable``) if the tail cannot be imported into a loop body.
    """

    def __init__(self, bottleneck, objective, collected=(), rows=None, noise_samples=None,
                 name="loop"):
        self.collected = tuple(sorted(collected))
        self.rows = rows
        application = objective.application
        graph_def, external, self.assumed = loop_body_tail(application.outputs,
                                                           objective.model_loss)
        # TensorFlow 1 control flow on both stacks: the tail is imported into the body with an
        # input map onto tensors of the outer graph
        with application.outputs.graph.as_default(), tf.name_scope(name), control_flow_v1():
            self.steps = tf.placeholder(tf.int32, (), name="steps")
            state = bottleneck.fed_state()
            feature = application.inputs
            if rows is not None:
                feature = tf.reshape(feature, (rows,) + bottleneck.feature_shape)
            if noise_samples is None:
                noise_samples = bottleneck.noise_samples
            fixed = dict(noise=noise_terms(feature, state),
                         information=information_terms(feature, state))

            def step(alpha, previous_draw):
                """One evaluation: the report tensors and the gradient at ``alpha``.

                ``previous_draw`` (a value of the previous iteration's noise) orders the
                draws: with two iterations in flight, the stateful noise op of the next one
                could otherwise run first and swap the steps' noise, so that equal seeds gave
                different results.
                """
                # alpha is read twice, as in the step-by-step path, so the gradient is formed
                # by the same ops
                noise_alpha, capacity_alpha = tf.identity(alpha), tf.identity(alpha)
                lam = ops.smooth(tf.sigmoid(noise_alpha), state.smoothing)
                with tf.control_dependencies([previous_draw]):
                    noise = draw_noise(1, noise_samples, bottleneck.feature_shape,
                                       application.seeds)
                input_map = dict(external)
                input_map[application.outputs.name] = noisy_feature(fixed["noise"], lam, noise)
                model_loss, = tf.import_graph_def(
                    graph_def, input_map=input_map, name="tail",
                    return_elements=[objective.model_loss.name])
                report = evaluate(bottleneck, model_loss, objective.per_row,
                                  [capacity_alpha] + lambdas(capacity_alpha, state.smoothing),
                                  fixed["information"])
                report["alpha_gradient"] = alpha_gradient(report["loss"], noise_alpha,
                                                          capacity_alpha, model_loss)
                report["drawn"] = tf.reshape(noise, [-1])[0]
                return report

            self.final_alpha, self.report = self._while(feature, bottleneck, step)
            lam, one_minus_lam = lambdas(self.final_alpha, state.smoothing)
            normalized, counted = fixed["information"]
            self.capacity = ops.capacity(lam, one_minus_lam, normalized) * counted
            # configures the variables (for restrict_flow) in the same run; the loop itself
            # reads the fed values
            self.write_back = tf.group(bottleneck.configure,
                                       bottleneck.alpha.assign(self.final_alpha),
                                       bottleneck.initialize_flag)

    def _while(self, feature, bottleneck, step):
        """Builds the loop; returns the final alpha and the stacked report tensors.

        While collecting, iteration 0 only evaluates (the report's ``"init"``), iterations
        1..steps evaluate and update, and the last only evaluates (``"final"``), so the noise
        is drawn in the same order as by the step-by-step path.
        """
        collecting = bool(self.collected)
        first = 1 if collecting else 0
        iterations = self.steps + 2 * first
        if self.rows is None:
            shape = tf.concat([tf.shape(feature)[:1], bottleneck.feature_shape], 0)
        else:
            shape = (self.rows,) + bottleneck.feature_shape
        alpha = tf.fill(shape, INITIAL_ALPHA)
        arrays = [tf.TensorArray(tf.float32, size=iterations, name=name)
                  for name in self.collected]

        def body(i, alpha, m, v, t, drawn, *arrays):
            report = step(alpha, drawn)
            new_m, new_v = ops.adam_moments(m, v, report["alpha_gradient"])
            new_t = t + 1.
            new_alpha = alpha - ops.adam_step(new_m, new_v, new_t, bottleneck.learning_rate)
            updated = (new_alpha, new_m, new_v, new_t)
            if collecting:
                update = tf.logical_and(i >= first, i < first + self.steps)
                updated = [tf.where_v2(update, new, old)
                           for new, old in zip(updated, (alpha, m, v, t))]
            arrays = [array.write(i, report[name]) for array, name in zip(arrays, self.collected)]
            return [i + 1] + list(updated) + [report["drawn"]] + arrays

        zeros = tf.zeros_like(alpha)
        # parallel_iterations=2: the next noise draw may overlap this step; the draws keep their
        # order through ``drawn``
        results = tf.while_loop(lambda i, *_: i < iterations, body,
                                [tf.constant(0), alpha, zeros, zeros, tf.constant(0.),
                                 tf.constant(0.)] + arrays,
                                parallel_iterations=2, name="steps")
        report = collections.OrderedDict(
            (name, array.stack()) for name, array in zip(self.collected, results[6:]))
        return results[1], report

    def run(self, session, feed_dict, steps):
        """Runs one analysis; returns (capacity, report OrderedDict or None).

        ``feed_dict`` holds everything the step-by-step path feeds, plus the configuration.
        """
        feed_dict = dict(feed_dict)
        feed_dict[self.steps] = steps
        capacity, report, _ = session.run([self.capacity, self.report, self.write_back],
                                          feed_dict)
        if not self.collected:
            return capacity, None
        first = 1
        rows = collections.OrderedDict()
        rows["init"] = {name: values[0] for name, values in report.items()}
        for index in range(steps):
            rows[index] = {name: values[first + index] for name, values in report.items()}
        rows["final"] = {name: values[first + steps] for name, values in report.items()}
        return capacity, rows
