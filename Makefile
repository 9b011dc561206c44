PY := .venv/bin/python

.PHONY: venv demo test docs benchmark clean

venv:
	@bash scripts/setup_venv.sh

demo: venv
	$(PY) -m iba_tf.examples.demo --out demo_output

# The TensorFlow suite runs on both stacks at once (each suite keeps about one of the two cores
# busy; the TF 2 stack's output is printed when both are done), then the docs and the PyTorch
# port's tests (which compare with both TensorFlow stacks); every part runs even where an
# earlier one fails, and any failure fails the run.
test: venv
	@status=0; tf2_log=$$(mktemp); \
	bash scripts/tf2_tests.sh > "$$tf2_log" 2>&1 & tf2_pid=$$!; \
	echo "== TensorFlow suite on the TF 1.15 stack (.venv, Python 3.7) =="; \
	$(PY) -m pytest tests -q || status=1; \
	wait $$tf2_pid || status=1; cat "$$tf2_log"; rm -f "$$tf2_log"; \
	$(MAKE) --no-print-directory docs || status=1; \
	bash scripts/torch_tests.sh || status=1; \
	exit $$status

# The API reference (docs/_build/html). -W --keep-going: every warning is reported, then fails
# the build; -E: a fresh read of every page (the check that each public name is documented
# needs all of them).
docs: venv
	$(PY) -m sphinx -b html -E -W --keep-going -q docs docs/_build/html

benchmark: venv
	$(PY) benchmarks/welford_fit.py
	$(PY) benchmarks/ibacopy_vgg16.py
	$(PY) benchmarks/analyze_speed.py
	$(PY) benchmarks/dataset_throughput.py
	$(PY) benchmarks/attribution_quality.py
	$(PY) benchmarks/input_iba_cost.py
	$(PY) benchmarks/readout_speed.py

clean:
	rm -rf .venv .venv-tf2 demo_output .pytest_cache docs/_build
