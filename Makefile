# The two front-door commands (see README):
#   make demo   set up .venv if needed, then run the main job on the embedded data
#   make test   set up .venv if needed, then run the test suite
PYTHON := .venv/bin/python

.PHONY: env demo test
env:
	bash tools/setup_env.sh

demo: env
	$(PYTHON) tools/demo.py

test: env
	$(PYTHON) -m pytest -q tests
