PY := .venv/bin/python

.PHONY: venv demo test benchmark clean

venv:
	@bash scripts/setup_venv.sh

demo: venv
	$(PY) -m iba_tf.examples.demo --out demo_output

test: venv
	$(PY) -m pytest tests
	bash scripts/torch_tests.sh

benchmark: venv
	$(PY) benchmarks/welford_fit.py
	$(PY) benchmarks/ibacopy_vgg16.py
	$(PY) benchmarks/analyze_speed.py
	$(PY) benchmarks/dataset_throughput.py
	$(PY) benchmarks/attribution_quality.py

clean:
	rm -rf .venv demo_output .pytest_cache
