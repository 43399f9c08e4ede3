#!/usr/bin/env python3
"""A scripted OTLP/HTTP endpoint on loopback, for the exporter's fault tests.

Answers each POST with the next status of --script (e.g. "429:2,200":
first 429 with Retry-After: 2, then 200), then 200 for every request after
the script.  Each request is logged as one JSON line in DIR/requests.jsonl:
monotonic time, path, status answered, content type and encoding, and the
body (gunzipped; hex when binary).  With --forward URL, each request goes
on to that collector as it came (gunzipped) and its answer is passed back:
the log then holds the exact bytes the agent sent beside what the
collector made of them.  Stops by itself after --max-seconds.
"""
import argparse
import gzip
import json
import os
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--script", default="")
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--forward", default="")
    args = ap.parse_args()
    steps = []
    for item in filter(None, args.script.split(",")):
        status, _, retry = item.partition(":")
        steps.append((int(status), retry or None))
    lock = threading.Lock()
    log = open(os.path.join(args.dir, "requests.jsonl"), "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with lock:
                status, retry = steps.pop(0) if steps else (200, None)
            ctype = self.headers.get("Content-Type", "")
            upstream = None
            if args.forward and status == 200:
                req = urllib.request.Request(args.forward + self.path, data=body, method="POST",
                                             headers={"Content-Type": ctype})
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        status, upstream = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, upstream = e.code, e.read()
            try:
                shown = body.decode("utf-8") if "json" in ctype else body.hex()
            except UnicodeDecodeError:
                shown = body.hex()
            log.write(json.dumps({"t": time.monotonic(), "path": self.path, "status": status,
                                  "content_type": ctype,
                                  "encoding": self.headers.get("Content-Encoding", ""),
                                  "body": shown}) + "\n")
            reply = b"{}" if "json" in ctype else b""
            if upstream is not None:
                reply = upstream
            elif status != 200:
                reply = json.dumps({"code": 3, "message": "stub says %d" % status}).encode()
            self.send_response(status)
            if retry:
                self.send_header("Retry-After", retry)
            self.send_header("Content-Type", "application/json" if "json" in ctype or status != 200 else ctype)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    threading.Timer(args.max_seconds, srv.shutdown).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
