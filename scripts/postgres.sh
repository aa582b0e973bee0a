#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for confide's tests.
#
#   scripts/postgres.sh start   # prints a DSN on stdout
#   scripts/postgres.sh stop
#
# "start" installs PostgreSQL from Debian's packages when initdb is missing
# (needs root and apt), creates a cluster in a new temporary directory,
# listening only on 127.0.0.1 on a free port with trust authentication, and
# prints postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
# The cluster's directory is remembered in $CONFIDE_PG_STATE (default
# /tmp/confide-postgres-$UID.state) so "stop" can find and remove it.
set -euo pipefail

state="${CONFIDE_PG_STATE:-/tmp/confide-postgres-$(id -u).state}"

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
	local b
	for b in "$(command -v "$1" 2>/dev/null || true)" /usr/lib/postgresql/*/bin/"$1"; do
		if [ -n "$b" ] && [ -x "$b" ]; then echo "$b"; return 0; fi
	done
	return 1
}

install_pg() {
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		log "initdb not found and cannot install PostgreSQL (need root and apt-get)"
		return 1
	fi
	log "installing PostgreSQL from Debian's packages"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
}

# as_pg runs a command as the unprivileged cluster owner (PostgreSQL refuses
# to run as root).
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start() {
	local initdb pg_ctl dir port
	initdb=$(find_bin initdb) || { install_pg && initdb=$(find_bin initdb); } || exit 1
	pg_ctl=$(find_bin pg_ctl) || { log "pg_ctl not found"; exit 1; }
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		log "running as root and there is no postgres user to own the cluster"
		exit 1
	fi
	dir=$(mktemp -d /tmp/confide-pg.XXXXXX)
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres "$dir"
	as_pg "$initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ log "initdb failed:"; cat "$dir/initdb.log" >&2; exit 1; }
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 30000))
		if as_pg "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=100" start >/dev/null 2>&1; then
			echo "$dir" >"$state"
			echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			return 0
		fi
		as_pg "$pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
	done
	log "could not start PostgreSQL; server log:"
	cat "$dir/server.log" >&2 || true
	exit 1
}

stop() {
	[ -f "$state" ] || { log "no cluster recorded in $state"; return 0; }
	local dir pg_ctl
	dir=$(cat "$state")
	pg_ctl=$(find_bin pg_ctl) || true
	[ -n "$pg_ctl" ] && as_pg "$pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
	rm -rf "$dir" "$state"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
