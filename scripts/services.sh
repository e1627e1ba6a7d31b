#!/usr/bin/env bash
# Starts the machine's Postgres and Mosquitto if they are not running (the integration tests
# use them; the product itself embeds its own unless configured otherwise).
set -euo pipefail
say() { printf '\033[1mservices:\033[0m %s\n' "$*"; }
if [ "$(id -u)" != 0 ]; then say "not root: assuming Postgres on 127.0.0.1:5432 and Mosquitto on :1883 are running"; exit 0; fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  cluster=$(ls /etc/postgresql 2>/dev/null | head -1)
  [ -n "$cluster" ] || { say "no Postgres cluster in /etc/postgresql"; exit 1; }
  say "starting Postgres $cluster"
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
fi
if ! port_open 1883; then
  say "starting Mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
for _ in $(seq 50); do port_open 5432 && port_open 1883 && break; sleep 0.2; done
port_open 5432 || { say "Postgres did not come up on 127.0.0.1:5432"; exit 1; }
port_open 1883 || { say "Mosquitto did not come up on 127.0.0.1:1883"; exit 1; }
# Tests connect over TCP as root without a password: make sure that role exists.
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='root'\"" | grep -q 1 ||
  su postgres -c "psql -qc 'create role root superuser login'"
say "Postgres and Mosquitto are up"
