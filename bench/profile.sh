#!/usr/bin/env bash
# Where the mock's time goes under load: py-spy samples one mock (one worker) while wrk drives a path.
#   bash bench/profile.sh 404        (or 401, 200; run bench/run.py once first: it seeds bench/out/)
#   SERVER=uvicorn bash bench/profile.sh 404   (the other HTTP server; default: the CLI's, granian)
# py-spy sees Python frames only: granian's own work (Rust: sockets, HTTP parsing) shows as time
# the worker's Python thread is not running, so the shares below are of the Python thread's time.
# Prints the top self-time frames and a per-layer summary; the raw profile is bench/out/profile-PATH.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:-404}
PORT=${PORT:-4789}
OUT=bench/out
[ -x .venv/bin/py-spy ] || .venv/bin/pip install -q "py-spy==0.4.3"
DB=$OUT/db-sqlite/bench.sqlite3
[ -f $DB ] || { echo "run bench/run.py (or --quick) first: it seeds $DB"; exit 2; }
.venv/bin/layers-mock --host 127.0.0.1 --port "$PORT" --workers 1 --quiet --database $DB ${SERVER:+--server $SERVER} > $OUT/profile-mock.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/_mock/clock" && break; sleep 0.1; done
export BENCH_AUTH="Bearer lp_test_bench_internal_0000000000000001" BENCH_ID=sa_ffffffff-ffff-4fff-8fff-ffffffffffff
[ "$KIND" = 401 ] && export BENCH_AUTH=""
# the 200 path takes fresh ids from the far end of the list (bench/run.py uses the start)
[ "$KIND" = 200 ] && export BENCH_IDS_FILE=$PWD/$OUT/fresh_ids_sqlite.txt BENCH_OFFSET=${OFFSET:-$(( $(wc -l < $OUT/fresh_ids_sqlite.txt) * 2 / 3 ))}
wrk -t1 -c32 -d12s -s bench/delete.lua "http://127.0.0.1:$PORT" > $OUT/profile-wrk.txt &
sleep 2
# --subprocesses: granian's worker is a child of the process started here (uvicorn's too with >1 worker)
.venv/bin/py-spy record -p $PID --subprocesses -d 8 -r 200 -f raw -o $OUT/profile-$KIND.txt --nonblocking > /dev/null 2>&1
wait %2 || true
grep BENCH_JSON $OUT/profile-wrk.txt
.venv/bin/python - "$OUT/profile-$KIND.txt" <<'PY'
import collections, re, sys
self_c, layer, total = collections.Counter(), collections.Counter(), 0
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip().rpartition(" "); n = int(n); total += n
    leaf = stack.split(";")[-1]; self_c[leaf] += n
    f = (re.search(r"\(([^:]+)", leaf) or [None, leaf])[1]
    key = ("storage (mock_server/storage/)" if "mock_server/storage" in f else "mock_server, contract" if "mock_server" in f or "contract/" in f
           else "uvicorn socket write" if "httptools_impl" in f and re.search(r":(524|551)\)", leaf)
           else "uvicorn" if "uvicorn" in f else "granian (Python side)" if "granian" in f
           else "asyncio event loop" if "asyncio" in f or "uvloop" in f else "connexion/jsonschema validation" if re.search("jsonschema|validat", f)
           else "connexion" if "connexion" in f else "starlette" if "starlette" in f else "other")
    layer[key] += n
print(f"{total} samples"); [print(f"{n / total * 100:5.1f}% {k}") for k, n in layer.most_common()]
print("top self time:"); [print(f"{n / total * 100:5.1f}% {k}") for k, n in self_c.most_common(15)]
PY
