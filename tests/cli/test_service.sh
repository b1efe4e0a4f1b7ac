# systemd notify (READY, WATCHDOG, STATUS, STOPPING), a stuck loop that stops
# the watchdog, --metrics in Prometheus text format, journald priorities.
source "$(dirname "$0")/lib.sh"
exec "$PY" "$SRC/tests/cli/service_check.py"
