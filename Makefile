# LabGate: `make run` runs the main job, `make test` sets up everything and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Real face data for calibration, tests and the demo (never copied into the repository).
LABGATE_DATA ?= $(firstword $(wildcard $(abspath ../shared/data) /work/shared/data))
export LABGATE_DATA

.PHONY: run test setup system models lint typecheck clean

# The kiosk with the server beside it (SQLite, http://127.0.0.1:8480/docs): the camera if there is
# one (/dev/video*), else the demo door composed from the real faces in $(LABGATE_DATA); the screen
# under a display ($$DISPLAY), else headless. `make run VIDEO=f.mp4` plays a video instead. An empty
# store gets the demo people (first 4 photos of each known person).
SERVER_DB ?= artifacts/labgate-server.db
run: models
	LABGATE_DATABASE_URL=sqlite:///$(abspath $(SERVER_DB)) $(BIN)/labgate-server migrate
	LABGATE_DATABASE_URL=sqlite:///$(abspath $(SERVER_DB)) $(BIN)/labgate-server run --port 8480 & server=$$!; \
	trap 'kill $$server 2>/dev/null' EXIT INT TERM; \
	$(BIN)/labgate-kiosk run --enrol-demo $(if $(VIDEO),--video "$(VIDEO)")

test: system models lint typecheck
	$(BIN)/pytest

# Debian packages the tests need (virtual screen for the GUI tests, OCR for transcripts).
SYSTEM_PACKAGES := xvfb xdotool xauth tesseract-ocr tesseract-ocr-ind
system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,tools,dev]'
	$(BIN)/pip install --quiet --no-deps facenet-pytorch==2.6.0
	touch $@

models: setup
	$(BIN)/labgate-models build

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

clean:
	rm -rf $(VENV) artifacts tests/artifacts .mypy_cache .ruff_cache .pytest_cache
