# The two commands of the README. Each sets up everything it needs and is safe to re-run.
.PHONY: run test lint

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh $(ARGS)

lint:
	@.venv/bin/ruff check . && .venv/bin/ruff format --check .
