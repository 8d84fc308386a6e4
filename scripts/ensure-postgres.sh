#!/usr/bin/env bash
# Makes sure the PostgreSQL that the tests use is reachable, and that its test database
# exists. Order of attempts: already up; installed but stopped (start the local cluster);
# not installed (install Debian's package when running as root with apt). Anything else
# ends with a clear message of what is missing.
set -euo pipefail

url="${FACEPAY_TEST_PG:-postgres://postgres@127.0.0.1:5432/facepay_test?sslmode=disable}"
host=127.0.0.1 port=5432 db=facepay_test user=postgres
if [[ -n "${FACEPAY_TEST_PG:-}" ]]; then
  echo "ensure-postgres: using FACEPAY_TEST_PG as given"
  exit 0
fi

up() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port"; }

if ! up; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "ensure-postgres: PostgreSQL is not installed; installing Debian's postgresql package"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
      echo "ensure-postgres: PostgreSQL is not installed and cannot be installed here (need root and apt-get)." >&2
      echo "  Install it (Debian: apt-get install postgresql) or set FACEPAY_TEST_PG to a reachable server." >&2
      exit 1
    fi
  fi
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [[ -z "$version" ]]; then
    echo "ensure-postgres: no cluster under /etc/postgresql; create one with pg_createcluster" >&2
    exit 1
  fi
  echo "ensure-postgres: starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do up && break; sleep 1; done
  if ! up; then
    echo "ensure-postgres: PostgreSQL $version did not come up on $host:$port" >&2
    exit 1
  fi
  # The tests connect over TCP as postgres without a password: make sure the cluster
  # trusts loopback, as the machines this project runs on are set up to.
  if ! psql -h "$host" -p "$port" -U "$user" -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
    hba=$(su postgres -c "psql -Atqc 'show hba_file'" 2>/dev/null || true)
    if [[ -n "$hba" && -w "$hba" ]]; then
      echo "ensure-postgres: allowing trust auth on loopback in $hba"
      sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
      su postgres -c "psql -Atqc 'select pg_reload_conf()'" >/dev/null
    fi
  fi
fi

if ! psql -h "$host" -p "$port" -U "$user" -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL is up but user $user cannot log in over TCP on $host:$port without a password." >&2
  echo "  Allow trust on loopback in pg_hba.conf or set FACEPAY_TEST_PG=postgres://user:pass@host:port/db" >&2
  exit 1
fi
if [[ $(psql -h "$host" -p "$port" -U "$user" -d postgres -Atqc "select 1 from pg_database where datname = '$db'") != 1 ]]; then
  echo "ensure-postgres: creating database $db"
  psql -h "$host" -p "$port" -U "$user" -d postgres -qc "create database $db" >/dev/null
fi
echo "ensure-postgres: ready at $url"
