#!/bin/sh
# cara's container entrypoint (also usable on a plain machine: it relies on PATH only).
#   web      migrate the database, then exec gunicorn (gunicorn.conf.py)
#   worker   wait until the database is migrated to the newest revision, then exec the RQ worker
#   migrate  migrate the database and exit
#   *        exec the command as given (a shell, `flask --app app users create ...`)
# Everything runs in the checkout's root (the folder above this script), where app.py is.
#
# The worker waits instead of migrating: Alembic takes no lock, so two processes upgrading the
# same database at once can collide half way, and a worker on another machine should never
# change the schema of a running site. Only `web` and `migrate` write the schema; should two
# web containers race, the loser's upgrade fails in its transaction and its next try finds
# the schema done.
#
# Compose starts every container at once, and PostgreSQL takes a few seconds to accept
# connections: both steps retry, CARA_WAIT_TRIES times (default 30), CARA_WAIT_SECONDS apart
# (default 2).
set -eu
cd "$(dirname "$0")/.."

tries=${CARA_WAIT_TRIES:-30}
pause=${CARA_WAIT_SECONDS:-2}

say() { printf 'entrypoint: %s\n' "$*" >&2; }

# retry DESCRIPTION COMMAND...: run COMMAND until it succeeds, at most $tries times.
retry() {
  what=$1
  shift
  n=1
  until "$@"; do
    if [ "$n" -ge "$tries" ]; then
      say "giving up: $what failed $n times"
      return 1
    fi
    say "$what failed (try $n of $tries); again in ${pause}s"
    n=$((n + 1))
    sleep "$pause"
  done
}

migrate() {
  retry "database upgrade" flask --app app db upgrade
}

# At the newest revision when `db current` marks the revision it reports as the head.
migrated() {
  flask --app app db current 2>/dev/null | grep -q '(head)'
}

case "${1:-web}" in
  web)
    migrate
    exec gunicorn -c gunicorn.conf.py app:app
    ;;
  worker)
    retry "waiting for migrations" migrated
    exec flask --app app worker
    ;;
  migrate)
    migrate
    ;;
  *)
    exec "$@"
    ;;
esac
