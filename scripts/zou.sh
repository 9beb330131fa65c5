#!/usr/bin/env bash
# A real Zou (Kitsu API) server for Framenote's integration tests, on loopback only.
#
#   scripts/zou.sh install              venv with zou==$ZOU_VERSION in .zou/venv (idempotent)
#   scripts/zou.sh start [--watch PID]  fresh PostgreSQL + Redis + Zou API + event stream in
#                                       $ZOU_DATA; prints the chosen ports as KEY=VALUE lines.
#                                       With --watch, a watchdog stops everything when PID exits
#                                       (the test binary), even if it crashed, and deletes
#                                       $ZOU_DATA unless ZOU_KEEP_DATA=1.
#   scripts/zou.sh stop                 stops what `start` started, by PID files only
#   scripts/zou.sh status               which of those PIDs are alive
#
# Settings (environment): ZOU_DATA (default .zou/run), ZOU_PORT, ZOU_EVENTS_PORT, PG_PORT,
# REDIS_PORT (default: free ports chosen now), ADMIN_EMAIL, ADMIN_PASSWORD, ZOU_VERSION.
# Processes are never found or killed by name: every one has a PID file under $ZOU_DATA.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZOU_VERSION=${ZOU_VERSION:-1.0.97}
VENV=${ZOU_VENV:-$ROOT/.zou/venv}
DATA=${ZOU_DATA:-$ROOT/.zou/run}
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.com}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-mysecretpassword}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PY=${PYTHON:-python3}

log() { echo "zou.sh: $*" >&2; }

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# PostgreSQL refuses to run as root: use the postgres account then, ourselves otherwise.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd_install() {
  local have=""
  [ -x "$VENV/bin/python" ] && have=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("zou"))' 2>/dev/null || true)
  if [ "$have" = "$ZOU_VERSION" ]; then
    return 0
  fi
  log "installing zou==$ZOU_VERSION into $VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q -U pip wheel setuptools
  "$VENV/bin/pip" install -q "zou==$ZOU_VERSION"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_http() { # url seconds
  local url=$1 deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then return 1; fi
    sleep 0.3
  done
}

cmd_start() {
  local watch_pid=""
  if [ "${1:-}" = "--watch" ]; then watch_pid=${2:?--watch needs a PID}; fi
  [ -n "$PG_BIN" ] || { log "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 2; }
  command -v redis-server >/dev/null || { log "redis-server not found (apt-get install redis-server)"; exit 2; }
  command -v ffmpeg >/dev/null || { log "ffmpeg not found (apt-get install ffmpeg)"; exit 2; }
  cmd_install
  if [ -f "$DATA/ports.env" ] && pid_alive "$DATA/logs/gunicorn-api.pid"; then
    log "already running in $DATA"; cat "$DATA/ports.env"; return 0
  fi
  local t0=$SECONDS
  rm -rf "$DATA"
  mkdir -p "$DATA"/{logs,redis,previews,tmp,plugins,hooks,pg}
  ZOU_PORT=${ZOU_PORT:-$(free_port)}
  ZOU_EVENTS_PORT=${ZOU_EVENTS_PORT:-$(free_port)}
  PG_PORT=${PG_PORT:-$(free_port)}
  REDIS_PORT=${REDIS_PORT:-$(free_port)}

  # PostgreSQL: a throw-away cluster, trust auth on loopback, no fsync (test data only).
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$DATA/pg"; chmod 700 "$DATA/pg"; fi
  as_pg "$PG_BIN/initdb" -D "$DATA/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DATA/logs/initdb.log"
  cat >>"$DATA/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$DATA/pg'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
EOF
  as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg/data" -l "$DATA/pg/postgres.log" -w start >/dev/null
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -c "ALTER USER postgres PASSWORD '$ADMIN_PASSWORD';" -c "CREATE DATABASE zoudb;"

  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes \
    --pidfile "$DATA/redis/redis.pid" --dir "$DATA/redis" --logfile "$DATA/logs/redis.log"

  cat >"$DATA/env.sh" <<EOF
export DB_HOST=127.0.0.1 DB_PORT=$PG_PORT DB_USERNAME=postgres DB_PASSWORD=$ADMIN_PASSWORD DB_DATABASE=zoudb
export DB_POOL_SIZE=5 DB_MAX_OVERFLOW=10
export KV_HOST=127.0.0.1 KV_PORT=$REDIS_PORT
export PREVIEW_FOLDER=$DATA/previews TMP_DIR=$DATA/tmp PLUGIN_FOLDER=$DATA/plugins
export EVENT_HANDLERS_FOLDER=$DATA/hooks
export SECRET_KEY=framenote-test-secret-not-for-production
export MAIL_ENABLED=False MAIL_CHECK_DELIVERABILITY=False
export INDEXER_KEY=
export ENABLE_JOB_QUEUE=False
export MOVIE_ENCODING_PRESET=ultrafast
export DOMAIN_PROTOCOL=http DOMAIN_NAME=127.0.0.1:$ZOU_PORT EVENT_STREAM_HOST=127.0.0.1 EVENT_STREAM_PORT=$ZOU_EVENTS_PORT
EOF
  # shellcheck disable=SC1091
  source "$DATA/env.sh"
  # Zou's routes have no /api prefix (nginx adds it in a Kitsu install): serve both.
  cat >"$DATA/zou_wsgi.py" <<'EOF'
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from zou.app import app as zou_app

app = DispatcherMiddleware(zou_app, {"/api": zou_app})
EOF
  # One Python start instead of three CLI calls saves ~8 s of imports.
  (cd "$DATA" && "$VENV/bin/python" - "$ADMIN_EMAIL" "$ADMIN_PASSWORD" >"$DATA/logs/init.log" 2>&1 <<'EOF'
import sys
from zou.cli import cli
email, password = sys.argv[1], sys.argv[2]
for args in (["init-db"], ["init-data"], ["create-admin", email, "--password", password]):
    try:
        cli.main(args=args, prog_name="zou", standalone_mode=False)
    except SystemExit as e:
        if e.code not in (0, None):
            raise
EOF
  ) || { log "zou init failed; see $DATA/logs/init.log"; tail -20 "$DATA/logs/init.log" >&2; exit 1; }

  (cd "$DATA" && "$VENV/bin/gunicorn" zou_wsgi:app --chdir "$DATA" --bind "127.0.0.1:$ZOU_PORT" \
    --workers 2 --worker-class gevent --timeout 300 --daemon --no-control-socket \
    --pid "$DATA/logs/gunicorn-api.pid" --error-logfile "$DATA/logs/gunicorn-api.log" \
    --access-logfile "$DATA/logs/gunicorn-api-access.log")
  (cd "$DATA" && "$VENV/bin/gunicorn" zou.event_stream:app --chdir "$DATA" --bind "127.0.0.1:$ZOU_EVENTS_PORT" \
    --workers 1 --worker-class geventwebsocket.gunicorn.workers.GeventWebSocketWorker --daemon \
    --no-control-socket --pid "$DATA/logs/gunicorn-events.pid" --error-logfile "$DATA/logs/gunicorn-events.log")

  if ! wait_http "http://127.0.0.1:$ZOU_PORT/api" 60; then
    log "API did not answer; see $DATA/logs/gunicorn-api.log"; tail -20 "$DATA/logs/gunicorn-api.log" >&2
    cmd_stop; exit 1
  fi
  wait_http "http://127.0.0.1:$ZOU_EVENTS_PORT/socket.io/?EIO=4&transport=polling" 60 \
    || log "event stream did not answer (live-event tests will fail)"

  cat >"$DATA/ports.env" <<EOF
ZOU_API=http://127.0.0.1:$ZOU_PORT/api
ZOU_EVENTS=http://127.0.0.1:$ZOU_EVENTS_PORT
ZOU_PORT=$ZOU_PORT
ZOU_EVENTS_PORT=$ZOU_EVENTS_PORT
PG_PORT=$PG_PORT
REDIS_PORT=$REDIS_PORT
ADMIN_EMAIL=$ADMIN_EMAIL
ADMIN_PASSWORD=$ADMIN_PASSWORD
ZOU_PREVIEW_FOLDER=$DATA/previews
ZOU_START_SECONDS=$((SECONDS - t0))
EOF
  if [ -n "$watch_pid" ]; then
    # Detached watchdog: stops the servers once the watched process is gone.
    nohup setsid bash "$0" watch "$watch_pid" >"$DATA/logs/watchdog.log" 2>&1 </dev/null &
    echo $! >"$DATA/logs/watchdog.pid"
  fi
  cat "$DATA/ports.env"
}

cmd_watch() {
  local pid=${1:?}
  while kill -0 "$pid" 2>/dev/null; do sleep 1; done
  rm -f "$DATA/logs/watchdog.pid"
  cmd_stop
  # A throw-away server for one test run: drop its database and previews too, unless asked to
  # keep them for a post-mortem (ZOU_KEEP_DATA=1).
  if [ "${ZOU_KEEP_DATA:-0}" != "1" ]; then rm -rf "$DATA"; fi
}

stop_pidfile() { # pidfile name
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cmd_stop() {
  [ -d "$DATA" ] || return 0
  if [ -f "$DATA/logs/watchdog.pid" ]; then stop_pidfile "$DATA/logs/watchdog.pid"; fi
  stop_pidfile "$DATA/logs/gunicorn-api.pid"
  stop_pidfile "$DATA/logs/gunicorn-events.pid"
  stop_pidfile "$DATA/redis/redis.pid"
  if [ -f "$DATA/pg/data/postmaster.pid" ]; then
    # pg_ctl stops the postmaster named in its own PID file.
    as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -f "$DATA/ports.env"
}

cmd_status() {
  for f in "$DATA/logs/gunicorn-api.pid" "$DATA/logs/gunicorn-events.pid" "$DATA/redis/redis.pid" \
    "$DATA/pg/data/postmaster.pid" "$DATA/logs/watchdog.pid"; do
    if [ -f "$f" ] && kill -0 "$(head -1 "$f")" 2>/dev/null; then
      echo "running $(head -1 "$f") $f"
    else
      echo "stopped $f"
    fi
  done
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  watch) shift; cmd_watch "$@" ;;
  *) echo "usage: $0 install|start [--watch PID]|stop|status" >&2; exit 2 ;;
esac
