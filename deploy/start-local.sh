#!/usr/bin/env bash
# The scale-out recipe on one machine, every part on loopback: Redis (the shared response cache
# of the servers and the gateways), two `hayate serve`, two `hayate gateway` over both servers,
# nginx (Debian's, unprivileged) in front of the two gateways, and Prometheus (Debian's) scraping
# the four hayate nodes. deploy/README.md explains each part and how to spread them over machines.
#
#   deploy/start-local.sh DIR [MODEL.gguf]   start everything; state, logs and ports under DIR
#   deploy/start-local.sh DIR stop           stop what DIR's run started
#
# Environment: HAYATE (the binary; default build/bin/hayate), NGINX_PORT (8080), REDIS_PORT
# (6390), PROMETHEUS_PORT (9095; 0: no Prometheus).
set -euo pipefail

dir=${1:?usage: start-local.sh DIR [MODEL.gguf | stop]}
here=$(cd "$(dirname "$0")" && pwd)
hayate=${HAYATE:-$here/../build/bin/hayate}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [[ ${2:-} == stop ]]; then
  [[ -f $dir/pids ]] || exit 0
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$dir/pids"
  rm -f "$dir/pids"
  exit 0
fi

model=${2:-}
nginx_port=${NGINX_PORT:-8080}
redis_port=${REDIS_PORT:-6390}
prometheus_port=${PROMETHEUS_PORT:-9095}
: >"$dir/pids"

started() { echo "$1" >>"$dir/pids"; }

# The port a hayate process printed ("listening on 127.0.0.1:PORT"), waiting up to 60 s.
port_of() {
  for _ in $(seq 600); do
    if grep -q 'listening on' "$1"; then
      grep -o 'listening on 127.0.0.1:[0-9]*' "$1" | head -1 | cut -d: -f2
      return
    fi
    sleep 0.1
  done
  echo "start-local.sh: $1 never said where it listens:" >&2
  cat "$1" >&2
  exit 1
}

healthy() {  # waits up to 60 s for 200 from a URL
  for _ in $(seq 600); do
    curl -sf -o /dev/null "$1" && return
    sleep 0.1
  done
  echo "start-local.sh: $1 never became healthy" >&2
  exit 1
}

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
started $!

servers=()
for i in 1 2; do
  args=(serve --port 0 --cache "redis://127.0.0.1:$redis_port")
  [[ -n $model ]] && args+=(-m "$model")
  "$hayate" "${args[@]}" >"$dir/serve-$i.log" 2>&1 &
  started $!
  servers+=("$(port_of "$dir/serve-$i.log")")
done
for p in "${servers[@]}"; do healthy "http://127.0.0.1:$p/health"; done
model_id=$(curl -s "http://127.0.0.1:${servers[0]}/v1/models" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')

gateways=()
for i in 1 2; do
  {
    echo 'port = 0'
    echo 'health_interval = 1'
    echo 'cache_entries = 10000'
    echo "cache_store = \"redis://127.0.0.1:$redis_port\""
    for p in "${servers[@]}"; do
      printf '[[upstreams]]\nname = "serve-%s"\nurl = "http://127.0.0.1:%s"\nmodel = "%s"\n' "$p" "$p" "$model_id"
    done
  } >"$dir/gateway-$i.toml"
  "$hayate" gateway --config "$dir/gateway-$i.toml" >"$dir/gateway-$i.log" 2>&1 &
  started $!
  gateways+=("$(port_of "$dir/gateway-$i.log")")
done
for p in "${gateways[@]}"; do healthy "http://127.0.0.1:$p/health"; done

mkdir -p "$dir/nginx"
sed -e "s|@DIR@|$dir/nginx|g" -e "s|@PORT@|$nginx_port|g" \
  -e "s|@GATEWAYS@|server 127.0.0.1:${gateways[0]} max_fails=0; server 127.0.0.1:${gateways[1]} max_fails=0;|" \
  "$here/nginx.conf" >"$dir/nginx/nginx.conf"
nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -g "daemon off; pid $dir/nginx/nginx.pid;" \
  >"$dir/nginx/stdout.log" 2>&1 &
started $!
healthy "http://127.0.0.1:$nginx_port/health"

if [[ $prometheus_port != 0 ]]; then
  targets="'127.0.0.1:${servers[0]}', '127.0.0.1:${servers[1]}', '127.0.0.1:${gateways[0]}', '127.0.0.1:${gateways[1]}'"
  sed -e "s|@TARGETS@|$targets|" "$here/prometheus.yml" >"$dir/prometheus.yml"
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus-data" \
    --web.listen-address="127.0.0.1:$prometheus_port" >"$dir/prometheus.log" 2>&1 &
  started $!
fi

cat >"$dir/ports.env" <<ENV
NGINX_PORT=$nginx_port
REDIS_PORT=$redis_port
PROMETHEUS_PORT=$prometheus_port
SERVER_PORTS="${servers[*]}"
GATEWAY_PORTS="${gateways[*]}"
ENV
echo "ready: http://127.0.0.1:$nginx_port (nginx) -> gateways ${gateways[*]} -> servers ${servers[*]}; ports in $dir/ports.env"
