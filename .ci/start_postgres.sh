# shellcheck shell=bash
# Start a throwaway PostgreSQL server for the store tests and export its URL.
#
# Meant to be *sourced* (by .ci/run) on a fresh Debian machine, as root or as a user that
# can run initdb:   source .ci/start_postgres.sh
# On success it exports
#   WHYLM_TEST_POSTGRES_URL=postgresql+psycopg://whylm:whylm@127.0.0.1:$PORT/whylm_test
# On any failure it prints a warning, leaves the variable unset, and the PostgreSQL
# parametrisations of tests/test_store*.py are skipped. Safe to source more than once.
# Settings: WHYLM_PG_PORT (default 54329), WHYLM_PG_DIR (default /var/tmp/whylm-postgres).

_whylm_start_postgres() {
    local port="${WHYLM_PG_PORT:-54329}"
    local dir="${WHYLM_PG_DIR:-/var/tmp/whylm-postgres}"
    local data="$dir/data" log="$dir/server.log" bindir version run_as=()

    _whylm_pg_warn() { echo "start_postgres.sh: warning: $*; PostgreSQL store tests will be skipped." >&2; }

    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
        if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            _whylm_pg_warn "PostgreSQL is not installed and cannot be installed here"; return 1
        fi
        echo "start_postgres.sh: installing postgresql (apt-get)..." >&2
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -qq postgresql >/dev/null 2>&1; then
            apt-get update -qq >/dev/null 2>&1
            apt-get install -y -qq postgresql >/dev/null 2>&1 || { _whylm_pg_warn "apt-get install postgresql failed"; return 1; }
        fi
    fi

    version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$version" ]; then
        bindir="/usr/lib/postgresql/$version/bin"
    else
        bindir="$(dirname "$(command -v initdb)")"
    fi

    # initdb and postgres refuse to run as root: run them as the postgres user then.
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || { _whylm_pg_warn "there is no postgres user to run the server as"; return 1; }
        run_as=(runuser -u postgres --)
        mkdir -p "$dir" && chown postgres: "$dir"
    else
        mkdir -p "$dir"
    fi

    if [ ! -s "$data/PG_VERSION" ]; then
        rm -rf "$data"
        "${run_as[@]}" "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 >"$dir/initdb.log" 2>&1 \
            || { _whylm_pg_warn "initdb failed (see $dir/initdb.log)"; return 1; }
    fi

    if ! "${run_as[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off" start >/dev/null 2>&1 \
            || { _whylm_pg_warn "the server did not start (see $log)"; return 1; }
    fi

    local psql=("$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
    "${psql[@]}" -c "SELECT 1" >/dev/null 2>&1 || { _whylm_pg_warn "cannot connect to 127.0.0.1:$port"; return 1; }
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = 'whylm'")" != "1" ]; then
        "${psql[@]}" -c "CREATE ROLE whylm LOGIN PASSWORD 'whylm'" >/dev/null 2>&1 \
            || { _whylm_pg_warn "cannot create the role whylm"; return 1; }
    fi
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'whylm_test'")" != "1" ]; then
        "${psql[@]}" -c "CREATE DATABASE whylm_test OWNER whylm" >/dev/null 2>&1 \
            || { _whylm_pg_warn "cannot create the database whylm_test"; return 1; }
    fi

    export WHYLM_TEST_POSTGRES_URL="postgresql+psycopg://whylm:whylm@127.0.0.1:$port/whylm_test"
    echo "start_postgres.sh: PostgreSQL $version is up; WHYLM_TEST_POSTGRES_URL=$WHYLM_TEST_POSTGRES_URL" >&2
    return 0
}

_whylm_start_postgres || unset WHYLM_TEST_POSTGRES_URL
unset -f _whylm_start_postgres _whylm_pg_warn
true
