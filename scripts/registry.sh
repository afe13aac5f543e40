#!/usr/bin/env bash
# registry.sh: the distribution registry (binary `registry`, installed by
# scripts/install-deps.sh) on loopback, plain HTTP, for scripts that push.
#
#   scripts/registry.sh start DIR   writes DIR/config.yml, keeps blobs in DIR/data
#                                   and the log in DIR/registry.log, waits until
#                                   GET /v2/ answers, prints "HOST:PORT PID"
#   scripts/registry.sh stop DIR    kills the PID in DIR/pid (only that one)
#
# Go tests use tests/checkers.StartRegistry instead.
set -euo pipefail
cmd=${1:?usage: registry.sh start|stop DIR}
st=${2:?usage: registry.sh start|stop DIR}
export PATH=$(PATH=/usr/local/go/bin:$PATH go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:$PATH

case $cmd in
start)
  mkdir -p "$st/data"
  st=$(cd "$st" && pwd)
  cat >"$st/config.yml" <<YML
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $st/data
  redirect:
    disable: true
http:
  addr: 127.0.0.1:0
  secret: loopback-only
YML
  registry serve "$st/config.yml" >"$st/registry.log" 2>&1 &
  echo $! >"$st/pid"
  addr=
  for _ in $(seq 200); do
    addr=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$st/registry.log" 2>/dev/null | head -1 | cut -d' ' -f3) || true
    [[ -n $addr ]] && curl -fsS "http://$addr/v2/" >/dev/null 2>&1 && break
    addr=
    sleep 0.05
  done
  if [[ -z $addr ]]; then
    echo "registry.sh: the registry did not start:" >&2
    cat "$st/registry.log" >&2
    kill "$(cat "$st/pid")" 2>/dev/null || true
    exit 1
  fi
  echo "$addr $(cat "$st/pid")"
  ;;
stop)
  if [[ -f $st/pid ]]; then
    pid=$(cat "$st/pid")
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$st/pid"
  fi
  ;;
*)
  echo "usage: registry.sh start|stop DIR" >&2
  exit 2
  ;;
esac
