# Partnerdesk: `just run` starts everything with demo data; `just test` runs the suite.
# Both find PostgreSQL the same way: DATABASE_URL if set, else a server on
# 127.0.0.1:5432, else a project-private cluster under .data/ started with the
# system's initdb/pg_ctl.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Build, migrate, load the demo data, start the web service and the worker.
run:
    #!/usr/bin/env bash
    set -euo pipefail
    server="$(just _postgres)"
    export DATABASE_URL="${DATABASE_URL:-$server/partnerdesk}"
    export PARTNERDESK_ENV="${PARTNERDESK_ENV:-development}"
    export HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
    export PUBLIC_URL="${PUBLIC_URL:-http://$HTTP_ADDR}"
    # Quick reactions for a demo: trial reminders appear seconds after `just clock`.
    export MAINTENANCE_INTERVAL_SECONDS="${MAINTENANCE_INTERVAL_SECONDS:-5}"
    export WORKER_POLL_SECONDS="${WORKER_POLL_SECONDS:-2}"
    cargo build --bins
    target/debug/partnerdesk-web migrate
    target/debug/partnerdesk-web seed seeds/demo.json
    target/debug/partnerdesk-worker & worker=$!
    target/debug/partnerdesk-web serve & web=$!
    stop() {
        trap - INT TERM
        echo; echo "Stopping…"
        kill -TERM "$web" "$worker" 2>/dev/null || true
        wait "$web" "$worker" 2>/dev/null || true
        just _postgres-stop
        exit 0
    }
    trap stop INT TERM
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/${HTTP_ADDR%:*}/${HTTP_ADDR##*:}") 2>/dev/null; then break; fi
        if ! kill -0 "$web" 2>/dev/null; then echo "the web service did not start" >&2; stop; fi
        sleep 0.2
    done
    echo
    echo "Partnerdesk is running (Ctrl-C stops everything)."
    echo "  Portal:   $PUBLIC_URL/"
    echo "  API docs: $PUBLIC_URL/api/docs   (OpenAPI: $PUBLIC_URL/api/openapi.json)"
    echo "  Mailbox:  $PUBLIC_URL/dev/mailbox (JSON: $PUBLIC_URL/api/dev/mailbox)"
    echo "  Database: $(echo "$DATABASE_URL" | sed -E 's#//([^:@/]+):[^@]*@#//\1:***@#')"
    echo
    target/debug/partnerdesk-dev logins seeds/demo.json
    wait "$web" "$worker" || true
    stop

# The large deterministic data set (default 10,000 partners, 1,000,000 customers,
# 5,000,000 users) in its own database, e.g. `just seed-scale --customers 100000`.
seed-scale *args:
    #!/usr/bin/env bash
    set -euo pipefail
    server="$(just _postgres)"
    export DATABASE_URL="${SCALE_DATABASE_URL:-$server/partnerdesk_scale}"
    export PARTNERDESK_ENV="${PARTNERDESK_ENV:-development}"
    cargo build --release --quiet --bin partnerdesk-web --bin partnerdesk-dev
    target/release/partnerdesk-web migrate
    target/release/partnerdesk-dev seed-scale {{args}}

# Development only: move the clock of a running `just run` forward, e.g. `just clock 23d`.
clock duration:
    #!/usr/bin/env bash
    set -euo pipefail
    server="$(just _postgres)"
    export DATABASE_URL="${DATABASE_URL:-$server/partnerdesk}"
    export PARTNERDESK_ENV="${PARTNERDESK_ENV:-development}"
    cargo build --quiet --bin partnerdesk-dev
    target/debug/partnerdesk-dev clock {{duration}}

# Run the whole test suite against real PostgreSQL (extra arguments go to nextest).
test *args:
    #!/usr/bin/env bash
    set -euo pipefail
    server="$(just _postgres)"
    trap 'just _postgres-stop' EXIT
    export DATABASE_URL="${DATABASE_URL:-$server/postgres}"
    # The single sign-on tests start a real OpenID Connect provider on Node.
    if [ ! -d web/tests/oidc/node_modules/oidc-provider ]; then
        npm ci --prefix web/tests/oidc --no-audit --no-fund --loglevel=error
    fi
    cargo nextest run --workspace --no-fail-fast {{args}}

# Benchmarks that print their figures. The load benchmark runs on the scale data set
# (`SCALE_DATABASE_URL`, default database partnerdesk_scale), made first if it is empty:
# about ten minutes and 11 GB at the default size.
bench:
    #!/usr/bin/env bash
    set -euo pipefail
    server="$(just _postgres)"
    export DATABASE_URL="${DATABASE_URL:-$server/postgres}"
    export SCALE_DATABASE_URL="${SCALE_DATABASE_URL:-$server/partnerdesk_scale}"
    cargo build --release --quiet --bin partnerdesk-web --bin partnerdesk-dev
    DATABASE_URL="$SCALE_DATABASE_URL" PARTNERDESK_ENV=development target/release/partnerdesk-web migrate
    DATABASE_URL="$SCALE_DATABASE_URL" PARTNERDESK_ENV=development target/release/partnerdesk-dev seed-scale --if-empty
    # The billing benchmark's baseline: Python's XlsxWriter, in its own virtualenv.
    venv="target/bench-venv"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import xlsxwriter' 2>/dev/null; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "XlsxWriter==3.3.1"
    fi
    export XLSXWRITER_PYTHON="$PWD/$venv/bin/python"
    cargo bench --workspace

# The API keeps its document's promises: schemathesis over every operation as a partner,
# a customer administrator and vendor staff, and a journey through a client generated
# with openapi-python-client (installed into target/contract-venv).
contract:
    #!/usr/bin/env bash
    set -euo pipefail
    server="$(just _postgres)"
    venv="target/contract-venv"
    if [ ! -x "$venv/bin/st" ] || [ ! -x "$venv/bin/openapi-python-client" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "schemathesis==4.32.5" "openapi-python-client==0.29.1"
    fi
    cargo build --quiet --bin partnerdesk-web --bin partnerdesk-worker
    export DATABASE_URL="$server/partnerdesk_contract_$$"
    export PARTNERDESK_ENV=development HTTP_ADDR="127.0.0.1:${CONTRACT_PORT:-18181}"
    export PUBLIC_URL="http://$HTTP_ADDR" LOGIN_FAILURES_PER_ADDRESS=1000000 EMAILS_PER_ADDRESS_PER_HOUR=1000000
    target/debug/partnerdesk-web migrate >/dev/null
    target/debug/partnerdesk-web seed seeds/demo.json >/dev/null
    target/debug/partnerdesk-web serve >target/contract-web.log 2>&1 & web=$!
    # The worker renders the billing run whose files the generated client downloads.
    WORKER_METRICS_ADDR=127.0.0.1:0 target/debug/partnerdesk-worker >target/contract-worker.log 2>&1 & worker=$!
    finish() {
        kill -TERM "$web" "$worker" 2>/dev/null || true; wait "$web" "$worker" 2>/dev/null || true
        if command -v psql >/dev/null; then psql "$server/postgres" -qc "DROP DATABASE IF EXISTS partnerdesk_contract_$$ WITH (FORCE)" || true; fi
        just _postgres-stop
    }
    trap finish EXIT
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/${HTTP_ADDR%:*}/${HTTP_ADDR##*:}") 2>/dev/null; then break; fi
        sleep 0.2
    done
    timeout 1200 "$venv/bin/python" .ci/api_contract.py "$PUBLIC_URL" "$venv/bin"

# Regenerate core/src/schema.rs from the migrations (needs diesel_cli).
schema:
    #!/usr/bin/env bash
    set -euo pipefail
    server="$(just _postgres)"
    url="$server/partnerdesk_schema"
    cargo build --bin partnerdesk-web
    psql "$server/postgres" -qc "DROP DATABASE IF EXISTS partnerdesk_schema WITH (FORCE)"
    DATABASE_URL="$url" target/debug/partnerdesk-web migrate
    diesel print-schema --database-url "$url" > core/src/schema.rs
    cargo fmt -- core/src/schema.rs
    echo "core/src/schema.rs regenerated"

# PNGs of every main page of each role, in each language, from a real headless browser.
screenshots dir="target/screenshots":
    #!/usr/bin/env bash
    set -euo pipefail
    server="$(just _postgres)"
    trap 'just _postgres-stop' EXIT
    export DATABASE_URL="${DATABASE_URL:-$server/postgres}"
    for lang in en nl de; do
        mkdir -p "{{dir}}/$lang"
        SCREENSHOTS_LANGUAGE="$lang" SCREENSHOTS_DIR="$(realpath "{{dir}}/$lang")" \
            cargo nextest run -p partnerdesk-web --no-fail-fast -E 'test(every_main_page_renders_for_its_role_and_is_photographed)'
    done
    echo "Screenshots: {{dir}}/{en,nl,de}"
    ls "{{dir}}"/*

# Format, lint, and check the shape: core's modules form no cycle, no function is too long.
check:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo test -q -p partnerdesk-core --test module_graph --test function_size --test read_frame

# Prints the PostgreSQL server URL (without a database), starting a private cluster if needed.
[private]
_postgres:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -n "${DATABASE_URL:-}" ]; then
        # The caller's server; recipes use DATABASE_URL as given.
        echo "${DATABASE_URL%/*}"; exit 0
    fi
    if [ "${PARTNERDESK_PG:-}" != "private" ] && (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
        if ! command -v psql >/dev/null || psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
            echo "postgres://postgres@127.0.0.1:5432"; exit 0
        fi
        echo "A server listens on 127.0.0.1:5432 but refuses user postgres; using a private cluster." >&2
    fi
    root="$(pwd)/.data/postgres"
    port="${PARTNERDESK_PG_PORT:-55432}"
    bindir=""
    for candidate in "$(command -v pg_ctl 2>/dev/null || true)" $(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V -r) /usr/local/pgsql/bin/pg_ctl /opt/homebrew/bin/pg_ctl; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && [ -x "$(dirname "$candidate")/initdb" ]; then bindir="$(dirname "$candidate")"; break; fi
    done
    if [ -z "$bindir" ]; then
        echo "PostgreSQL was not found: no DATABASE_URL, nothing on 127.0.0.1:5432, and no initdb/pg_ctl." >&2
        echo "Install the server (Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql@15)" >&2
        echo "or point DATABASE_URL at a server where you may create databases." >&2
        exit 1
    fi
    as_owner() { "$@"; }
    if [ "$(id -u)" = 0 ]; then
        owner="postgres"; id "$owner" >/dev/null 2>&1 || owner="nobody"
        as_owner() { runuser -u "$owner" -- "$@"; }
        mkdir -p "$root"; chown "$owner" "$root"
    fi
    if [ ! -f "$root/data/PG_VERSION" ]; then
        mkdir -p "$root"; [ "$(id -u)" = 0 ] && chown "$owner" "$root"
        echo "Creating a private PostgreSQL cluster in $root" >&2
        as_owner "$bindir/initdb" -D "$root/data" -U postgres --auth=trust -E UTF8 --no-locale >"$root/initdb.log" 2>&1 \
            || { cat "$root/initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$root/data" status >/dev/null 2>&1; then
        as_owner "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w \
            -o "-p $port -k $root -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2
        touch "$root/started-by-just"
    fi
    echo "postgres://postgres@127.0.0.1:$port"

# Stops the private cluster if `just` started it.
[private]
_postgres-stop:
    #!/usr/bin/env bash
    set -euo pipefail
    root="$(pwd)/.data/postgres"
    [ -f "$root/started-by-just" ] || exit 0
    bindir="$(dirname "$(command -v pg_ctl 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/pg_ctl | sort -V -r | head -1)")"
    if [ "$(id -u)" = 0 ]; then
        owner="postgres"; id "$owner" >/dev/null 2>&1 || owner="nobody"
        runuser -u "$owner" -- "$bindir/pg_ctl" -D "$root/data" -m fast stop >/dev/null 2>&1 || true
    else
        "$bindir/pg_ctl" -D "$root/data" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -f "$root/started-by-just"
