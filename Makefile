# `make run` starts the shop with embedded services, `make test` runs the tests.
# Both create .venv with $(PYTHON) and install the project into it first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test clean

run: $(STAMP)
	$(VENV)/bin/python -m embedded.run

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Records the real trace of an order that fails with every workshop fault on,
# then draws it as docs/trace-workshop-order.svg (see docs/trace_picture/).
.PHONY: trace-picture
trace-picture: $(STAMP)
	$(VENV)/bin/python -m pytest docs/trace_picture/scenario.py -p no:cacheprovider -q
	$(VENV)/bin/python docs/trace_picture/render.py

# Reinstall only when pyproject.toml is newer than the last install.
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install -e '.[test]'
	touch $@

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null || { \
		echo "$(PYTHON) was not found. Install Python 3.11 or newer, or run make PYTHON=/path/to/python3.11." >&2; \
		exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "$(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'), but the shop needs 3.11 or newer. Run make PYTHON=/path/to/python3.11." >&2; \
		exit 1; }
	$(PYTHON) -m venv $(VENV)
	# The pip that ships with an older Python resolves this project's
	# dependencies far more slowly than a current one.
	$(VENV)/bin/python -m pip install --quiet --upgrade pip

# Removes runtime data (databases, logs, the admin password) and forces a
# reinstall on the next run; the source and .venv itself stay.
clean:
	rm -rf var $(STAMP)
