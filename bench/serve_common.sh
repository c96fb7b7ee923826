# Sourced by the bench/serve_*.sh scripts: waits for a `hayate serve --port 0` started with its
# log in $1, then sets $base to its URL.
wait_for_server() {
  local log=$1 port=""
  for _ in $(seq 600); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | cut -d: -f2 || true)
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$log" >&2; echo "the server did not start" >&2; exit 1; }
  base="http://127.0.0.1:$port"
}
