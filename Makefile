# Patron: the commands a developer needs. `make run` and `make test` work on a fresh clone.
UV ?= uv
export UV_PYTHON_DOWNLOADS := never
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: install run serve test lint format bench demo

install:
	$(UV) sync --frozen

run: install
	$(UV) run patron migrate --noinput
	$(UV) run patron collectstatic --noinput --verbosity 0
	$(UV) run patron demo --if-empty
	$(UV) run patron serve --host $(HOST) --port $(PORT)

test: install
	$(UV) run pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check src tests
	$(UV) run ruff format --check src tests
	$(UV) run mypy

format: install
	$(UV) run ruff check --fix src tests
	$(UV) run ruff format src tests

bench: install
	$(UV) run python -m patron.bench
