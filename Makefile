PY := .venv/bin/python

.PHONY: venv demo test benchmark clean

venv:
	@bash scripts/setup_venv.sh

demo: venv
	$(PY) -m iba_tf.examples.quickstart --out demo_output

test: venv
	$(PY) -m pytest tests

clean:
	rm -rf .venv demo_output .pytest_cache
