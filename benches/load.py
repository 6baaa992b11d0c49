#!/usr/bin/env python3
"""Load script: starts the release binary on 127.0.0.1 (a fresh temp dir,
SQLite), drives a bounded number of requests at a few endpoints with
concurrent keep-alive clients, and prints throughput, latency percentiles and
the server's peak memory. Figures are meant as ratios within one run.

    cargo build --release && python3 benches/load.py [--requests 2000] [--clients 8]

Only 127.0.0.1 is ever targeted; every phase has a request budget and a
time limit.
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "tessera")
PASSWORD = "correct horse battery staple"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(conn, method, path, body=None, headers=None):
    headers = dict(headers or {})
    if body is not None:
        body = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    res = conn.getresponse()
    return res.status, res.read()


def phase(port, name, count, clients, make, limit_s=120):
    """Runs `count` requests from `clients` threads; `make(i)` gives (method, path, body, headers, ok_status)."""
    latencies, errors, lock = [], [], threading.Lock()
    next_i = iter(range(count))
    deadline = time.monotonic() + limit_s

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                i = next(next_i, None)
            if i is None:
                break
            method, path, body, headers, ok = make(i)
            start = time.perf_counter()
            status, _ = request(conn, method, path, body, headers)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if status != ok:
                    errors.append(status)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    rate = len(latencies) / wall
    print(f"{name:<28} {len(latencies):>6} req {rate:>9.0f}/s  p50 {pct(0.5):7.2f} ms  p99 {pct(0.99):7.2f} ms"
          f"  errors {len(errors)}{' ' + str(sorted(set(errors))) if errors else ''}")
    return rate


def rss_kib(pid, field):
    """VmHWM: peak resident memory; VmRSS: resident now."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} is missing: run `cargo build --release` first")
    port = free_port()
    work = tempfile.mkdtemp(prefix="tessera-load-")
    env = {"PATH": os.environ.get("PATH", ""), "TESSERA_BIND": f"127.0.0.1:{port}", "TESSERA_LOG": "warn",
           "TESSERA_SIGNING_ALG": os.environ.get("TESSERA_SIGNING_ALG", "RS256")}
    server = subprocess.Popen([BINARY], cwd=work, env=env)
    try:
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                if request(conn, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit("tessera did not become ready")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        users = []
        for i in range(args.clients):
            status, body = request(conn, "POST", "/v1/signup", {"email": f"load{i}@example.test", "password": PASSWORD})
            assert status == 201, body
            users.append(json.loads(body))
        n, c = args.requests, args.clients
        print(f"tessera load, {c} clients, signing {env['TESSERA_SIGNING_ALG']}, 127.0.0.1:{port}")
        jwks = phase(port, "GET /.well-known/jwks.json", n, c, lambda i: ("GET", "/.well-known/jwks.json", None, None, 200))
        me = phase(port, "GET /v1/me", n, c, lambda i: (
            "GET", "/v1/me", None, {"Authorization": "Bearer " + users[i % c]["access_token"]}, 200))
        logins = max(c, n // 20)
        login = phase(port, "POST /v1/login", logins, c, lambda i: (
            "POST", "/v1/login", {"email": f"load{i % c}@example.test", "password": PASSWORD}, None, 200))
        jwks_during = phase(port, "JWKS again (after logins)", n, c,
                            lambda i: ("GET", "/.well-known/jwks.json", None, None, 200))
        print(f"ratios: JWKS/me {jwks / me:.1f}x, me/login {me / login:.1f}x, JWKS before/after the login storm "
              f"{jwks / jwks_during:.2f}x")
        print(f"server RSS: peak {rss_kib(server.pid, 'VmHWM') / 1024:.0f} MiB, "
              f"after the run {rss_kib(server.pid, 'VmRSS') / 1024:.0f} MiB")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
