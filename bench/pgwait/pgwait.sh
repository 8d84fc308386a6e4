#!/bin/sh
# What a PostgreSQL backend of `facepay bench pay` waits for during one phase: samples
# pg_stat_activity every 0.5 ms and prints the share of each wait event (IO:WALSync is
# its commits' fdatasync, Client:ClientRead idle the wait for the next batch), and the
# WAL written meanwhile. See the README, "Measured speed".
set -eu
usage() {
	cat <<'USAGE'
usage: bench/pgwait/pgwait.sh [-p PHASE] [-a APP] [-n SAMPLES] BINARY [bench pay flags...]

Runs BINARY bench pay on PostgreSQL for two rounds and samples one backend in the
second round of PHASE.

  -p PHASE    facepay (default), orderquery, or "storage ceiling (pay-shaped tx)"
  -a APP      application_name pattern of the backends to watch (LIKE); default
              openfacepay-pipeline% (the store's pipeline); % for any, such as the
              storage ceiling's connection
  -n SAMPLES  samples to take, one each 0.5 ms or so (default 3000)

PGURL (default postgres://postgres@127.0.0.1:5432/facepay_test?sslmode=disable)
names the database; DURATION (default 10s) the length of each phase over both rounds.
Needs psql, PostgreSQL's client, on the PATH.
USAGE
}
phase=facepay app='openfacepay-pipeline%' samples=3000
while getopts p:a:n:h opt; do
	case $opt in
	p) phase=$OPTARG ;;
	a) app=$OPTARG ;;
	n) samples=$OPTARG ;;
	*) usage; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { usage; exit 2; }
bin=$1
shift
url=${PGURL:-postgres://postgres@127.0.0.1:5432/facepay_test?sslmode=disable}
dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bin" bench pay --db "$url" --duration "${DURATION:-10s}" --rounds 2 "$@" >"$out" 2>&1 &
pid=$!
# The progress line of the phase's second round, one second in.
until grep -q "$phase, round 2/2 *1\.0s" "$out"; do
	kill -0 "$pid" 2>/dev/null || { cat "$out"; echo "pgwait: the bench ended before $phase's second round" >&2; exit 1; }
	sleep 0.2
done
psql -q -X "$url" -v app="$app" -v samples="$samples" -f "$dir/wait.sql"
wait "$pid"
tr '\r' '\n' <"$out" | grep -E '^ +(phase|protocol|storage|orderquery|facepay) |storage ceiling = '
