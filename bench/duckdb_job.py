#!/usr/bin/env python3
"""Run one benchmark job in DuckDB, the peer of kwindow, kagg and kjoin.

Usage: duckdb_job.py JOB THREADS OUT DATA [RIGHT]
  JOB      window: count and sum of amount per (1-minute tumbling window, user)
           agg:    count and sum of amount per user
           keys:   count and sum of amount per id (one key per event)
           join:   DATA and RIGHT joined on user where |rt - lt| <= 1 s
  THREADS  DuckDB's threads (SET threads)
  OUT      where the rows go, as JSON lines (DuckDB's COPY ... (FORMAT JSON)):
           window: {"window_start","window_end","user","count","sum_amount"}
           agg:    {"user","count","sum_amount"}
           keys:   {"id","count","sum_amount"}
           join:   {"left":{ts,user,amount,id},"right":{...}}, whole records
  DATA     the events file of bench/gen_events.py, or the LEFT file of
           bench/gen_join.py (then RIGHT is its right file)

The job reads the files, computes, and writes every row, as the kpipe tools
do, in one COPY statement. Prints on stdout one line
  mode=duckdb-JOB threads=N query_s=SECONDS rows=ROWS
where query_s is DuckDB's own time for the statement: the interpreter's start
and `import duckdb` (about 0.1 s) are left out, so a comparison on query_s is
the strict one for kpipe. The window job needs no watermark: with
--max-delay 2s no event of gen_events.py is late (see gen_events.py), so the
batch answer is kwindow's answer; likewise no event of gen_join.py is late
for kjoin.
"""
import sys
import time

import duckdb

job, threads, out, data = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
COLUMNS = "columns={ts: 'BIGINT', \"user\": 'VARCHAR', amount: 'DOUBLE', id: 'BIGINT'}"


def src(path):
    return "read_json('%s', format='newline_delimited', %s)" % (path.replace("'", "''"), COLUMNS)


if job == "window":
    query = ("SELECT (ts // 60000) * 60000 AS window_start, (ts // 60000) * 60000 + 60000 AS window_end, "
             "\"user\", count(*) AS count, sum(amount) AS sum_amount FROM %s GROUP BY ALL" % src(data))
elif job == "agg":
    query = "SELECT \"user\", count(*) AS count, sum(amount) AS sum_amount FROM %s GROUP BY ALL" % src(data)
elif job == "keys":
    query = "SELECT id, count(*) AS count, sum(amount) AS sum_amount FROM %s GROUP BY ALL" % src(data)
elif job == "join" and len(sys.argv) > 5:
    query = ("SELECT l AS \"left\", r AS \"right\" FROM %s l JOIN %s r "
             "ON l.\"user\" = r.\"user\" AND r.ts BETWEEN l.ts - 1000 AND l.ts + 1000" % (src(data), src(sys.argv[5])))
else:
    sys.exit("duckdb_job.py: JOB is window, agg, keys or join (join takes LEFT and RIGHT)")
con = duckdb.connect()
con.execute("SET threads = %d" % threads)
con.execute("SET preserve_insertion_order = false")
t0 = time.perf_counter()
rows = con.execute("COPY (%s) TO '%s' (FORMAT JSON)" % (query, out.replace("'", "''"))).fetchone()[0]
t1 = time.perf_counter()
print("mode=duckdb-%s threads=%d query_s=%.4f rows=%d" % (job, threads, t1 - t0, rows))
