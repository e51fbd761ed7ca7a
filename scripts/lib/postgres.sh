# Shared by scripts/test and scripts/bench: a throwaway PostgreSQL 15 cluster.
# Requires $work (a temp directory the caller removes). Sets PG_PORT and PG_ADMIN_URL.

pg_bin=/usr/lib/postgresql/15/bin

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ensure_postgres_installed() {
    if [ ! -x "$pg_bin/initdb" ]; then
        if [ "$(id -u)" != 0 ]; then echo "PostgreSQL 15 is missing and installing it needs root" >&2; return 1; fi
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null || return 1
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home /var/lib/postgresql --shell /bin/false postgres
    fi
}

# start_postgres [extra server options]
start_postgres() {
    mkdir -p "$work/pg" "$work/sock"
    chmod 755 "$work"
    if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg" "$work/sock"; fi
    as_pg "$pg_bin/initdb" -D "$work/pg" -U parley -A trust -E UTF8 --no-locale >"$work/initdb.log" 2>&1 \
        || { cat "$work/initdb.log"; return 1; }
    PG_PORT="$(free_port)"
    as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w -t 60 start \
        -o "-p $PG_PORT -k $work/sock -c listen_addresses=127.0.0.1 -c max_connections=300 $*" \
        >/dev/null || { cat "$work/pg/server.log"; return 1; }
    PG_ADMIN_URL="postgres://parley@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
}

stop_postgres() {
    if [ -f "$work/pg/postmaster.pid" ]; then
        as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
    fi
}
