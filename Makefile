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
# store gets the demo people (first 4 photos of each known person). A kiosk not provisioned yet (or
# no longer authorised) is provisioned against this server as "demo kiosk", so what it records
# reaches the server (GET /api/v1/presence/events); later runs keep that provisioning. It says how to
# sign in (the admins, or the command that makes the first one in $(SERVER_DB)); Ctrl+C stops both
# (the kiosk's 130, Ctrl+C while it loads, is a clean stop too).
SERVER_DB ?= artifacts/labgate-server.db
SERVER_PORT ?= 8480
SERVER_ENV := LABGATE_DATABASE_URL=sqlite:///$(abspath $(SERVER_DB))
run: models
	$(SERVER_ENV) $(BIN)/labgate-server migrate
	@$(SERVER_ENV) $(BIN)/labgate-server how-to-sign-in --url http://127.0.0.1:$(SERVER_PORT)
	@state=$$($(BIN)/labgate-sync status | awk '$$1 == "state" {print $$2}'); \
	if [ "$$state" = unprovisioned ] || [ "$$state" = unauthorised ]; then \
	  echo "provisioning the demo kiosk against http://127.0.0.1:$(SERVER_PORT) (sync state was $$state)"; \
	  $(SERVER_ENV) $(BIN)/labgate-server demo-kiosk --url http://127.0.0.1:$(SERVER_PORT) \
	    | $(BIN)/labgate-sync provision - || exit 1; \
	fi
	$(SERVER_ENV) $(BIN)/labgate-server run --port $(SERVER_PORT) --no-access-log & server=$$!; \
	trap 'kill $$server 2>/dev/null' EXIT INT TERM; \
	$(BIN)/labgate-kiosk run --enrol-demo $(if $(VIDEO),--video "$(VIDEO)") || [ $$? = 130 ]

# Tests run on one worker per core; work is handed out test by test (heavy ones are uneven).
test: system models lint typecheck
	$(BIN)/pytest -n auto --dist worksteal

# Debian packages the tests need (virtual screen for the GUI tests, OCR for transcripts, a browser for web
# pages: tests/web drive Debian's chromium through Playwright; its fonts for stable screenshots; wrk drives
# bench/server.py).
SYSTEM_PACKAGES := xvfb xdotool xauth tesseract-ocr tesseract-ocr-ind chromium chromium-driver fonts-liberation wrk
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

# ruff, and the layers (pyproject.toml's [tool.importlinter]: kiosk -> enroll | sync -> device -> models).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy

clean:
	rm -rf $(VENV) artifacts tests/artifacts .mypy_cache .ruff_cache .pytest_cache
