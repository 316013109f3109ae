# Two commands: `make run` (set up, then serve on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_TEST_PEERS := postfix swaks chromium fonts-wqy-zenhei dovecot-imapd dovecot-lmtpd
# What the printable PDF needs (WeasyPrint draws with Pango; a CJK font for the Chinese text).
APT_PRINT := libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-zenhei

.PHONY: run test lint faults install test-peers print-peers bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP) print-peers
	$(BIN)/inkless serve -c config.yaml

# Pango and a CJK font for `/documents/{id}/print?format=pdf` (without them the page still
# prints from the browser, and the PDF answers 503 saying what to install).
print-peers:
	@if ! ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || ! fc-list 2>/dev/null | grep -qi zenhei; then \
		echo "installing what the printable PDF needs: $(APT_PRINT)"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $(APT_PRINT); \
		else echo "not root: run 'sudo apt-get install $(APT_PRINT)' for the PDF of printed documents"; fi; \
	fi

# Debian packages the tests talk to: Postfix's smtp-source/smtp-sink, swaks, headless Chromium
# (with a CJK font, so screenshots show the Chinese pages), Dovecot IMAP + LMTP (run privately
# by the tests; the package's own service is never started here).
test-peers:
	@if ! command -v smtp-source >/dev/null || ! command -v swaks >/dev/null || ! command -v chromium >/dev/null \
		|| ! test -x /usr/sbin/dovecot || ! test -x /usr/lib/dovecot/lmtp \
		|| ! fc-list 2>/dev/null | grep -qi zenhei; then \
		echo "installing test peers: $(APT_TEST_PEERS)"; \
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
		echo "postfix postfix/mailname string localhost" | debconf-set-selections; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_TEST_PEERS); \
	fi

# The shape of the house, checked like a test (README "What is where"): the import contracts in
# pyproject.toml (layers, storage and handlers below the edges), strict types, lint.
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/mypy --strict src/
	$(BIN)/ruff check src tests bench

# Two workers (this machine has two cores), one test file each at a time: every test makes its
# own database, ports and folders, so files share nothing.
test: $(STAMP) test-peers print-peers lint
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist loadfile

# The slow fault and hostile-input suites (tests marked slow).
faults: $(STAMP) test-peers
	$(BIN)/python -m pytest -q -m slow

# Every benchmark on SQLite and on PostgreSQL (each makes and drops its own scratch database on
# BENCH_PG's server; ingest, fanout and process measure both in one invocation), then bench/results.md: one
# table from this run. summary.py refuses result files written before the run started.
BENCH_PG ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

bench: $(STAMP) test-peers
	mkdir -p bench/results && date +%s > bench/results/.run-started
	$(BIN)/python bench/ingest.py --postgres $(BENCH_PG)
	$(BIN)/python bench/approval.py
	$(BIN)/python bench/approval.py --postgres $(BENCH_PG)
	$(BIN)/python bench/feed.py
	$(BIN)/python bench/feed.py --postgres $(BENCH_PG)
	$(BIN)/python bench/fanout.py --postgres $(BENCH_PG)
	$(BIN)/python bench/process.py --postgres $(BENCH_PG)
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/memory.py --postgres $(BENCH_PG)
	$(BIN)/python bench/bigmessage.py
	$(BIN)/python bench/bigmessage.py --postgres $(BENCH_PG)
	$(BIN)/python bench/replies.py
	$(BIN)/python bench/summary.py --since $$(cat bench/results/.run-started)

clean:
	rm -rf $(VENV) var .pytest_cache
