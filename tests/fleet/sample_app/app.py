# Copyright: (c) 2026, lastmile.deploy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sample application deployed onto the test fleet (standard library only).

Behaviour comes from ``release.json`` beside this file::

    {"version": "v1", "mode": "good", "error_rate": 0.3,
     "start_delay": 0.3, "response_delay": 0, "health_delay": 0}

mode: good | errors (``/`` answers 500 for ``error_rate`` of requests, evenly
spread; with ``errors_on``, a comma-separated list of addresses, only on those hosts) |
unhealthy (``/health`` answers 503) | nostart (exit 1 at once). response_delay slows every ``/`` request, health_delay
every ``/health`` request (a release that is slow everywhere).
SIGTERM/SIGINT stop gracefully: the listener closes, in-flight requests finish
(bounded by GRACE_SECONDS), exit status 0.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GRACE_SECONDS = 5.0
MODES = ("good", "errors", "unhealthy", "nostart")
DEFAULTS = {"mode": "good", "error_rate": 0.3, "start_delay": 0.3, "response_delay": 0.0, "health_delay": 0.0}


def load_release(path: str) -> dict:
    """Read release.json and fill in defaults."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    release = dict(DEFAULTS)
    release.update(data)
    if release["mode"] not in MODES:
        raise ValueError("release.json mode %r is not one of %s" % (release["mode"], ", ".join(MODES)))
    if "version" not in release:
        raise ValueError("release.json has no 'version'")
    return release


class ErrorSpreader:
    """Decides which requests fail so that exactly ``rate`` of them do, evenly spread."""

    def __init__(self, rate: float) -> None:
        self.rate = min(max(float(rate), 0.0), 1.0)
        self.count = 0
        self.lock = threading.Lock()

    def next_fails(self) -> bool:
        with self.lock:
            before = int(self.count * self.rate)
            self.count += 1
            return int(self.count * self.rate) > before


class InFlight:
    """Counts requests being answered, so a graceful stop can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self.cond = threading.Condition()

    def __enter__(self) -> "InFlight":
        with self.cond:
            self.count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self.cond:
            self.count -= 1
            self.cond.notify_all()

    def wait_idle(self, timeout: float) -> int:
        """Wait until no request is in flight; return how many are left."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.count and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            return self.count


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid the delayed-ACK stall
    timeout = 60  # idle keep-alive connections do not live forever
    server: "SampleServer"

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        srv = self.server
        with srv.inflight:
            path = self.path.split("?", 1)[0]
            release = srv.release
            if path == "/":
                if release["response_delay"]:
                    time.sleep(float(release["response_delay"]))
                if release["mode"] == "errors" and srv.fails_here and srv.errors.next_fails():
                    self.reply(500, "text/plain", "injected error %s\n" % release["version"])
                else:
                    body = json.dumps({"version": release["version"], "host": srv.host_label})
                    self.reply(200, "application/json", body + "\n")
            elif path == "/version":
                self.reply(200, "text/plain", "%s\n" % release["version"])
            elif path == "/health":
                if release["health_delay"]:
                    time.sleep(float(release["health_delay"]))
                if release["mode"] == "unhealthy":
                    self.reply(503, "text/plain", "unhealthy %s\n" % release["version"])
                else:
                    self.reply(200, "text/plain", "ok %s\n" % release["version"])
            else:
                self.reply(404, "text/plain", "not found\n")

    def reply(self, status: int, ctype: str, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if self.server.stopping.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # one line per start/stop only; request logs would flood the fleet logs


class SampleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple, release: dict) -> None:
        self.release = release
        self.host_label = address[0]
        self.errors = ErrorSpreader(release["error_rate"])
        self.fails_here = not release.get("errors_on") or self.host_label in release["errors_on"].split(",")
        self.inflight = InFlight()
        self.stopping = threading.Event()
        super().__init__(address, Handler)


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="lastmile sample application")
    parser.add_argument("--host", default=os.environ.get("SAMPLE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAMPLE_PORT", "8080")))
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--release-file", default=os.path.join(here, "release.json"))
    return parser.parse_args(argv)


def log(line: str) -> None:
    print("%s sample[%d] %s" % (time.strftime("%Y-%m-%dT%H:%M:%S"), os.getpid(), line), flush=True)


def main(argv: list) -> int:
    args = parse_args(argv)
    try:
        release = load_release(args.release_file)
    except (OSError, ValueError) as e:
        print("sample: cannot start: %s" % e, file=sys.stderr, flush=True)
        return 1
    if release["mode"] == "nostart":
        print("sample: release %s is built not to start (mode nostart)" % release["version"],
              file=sys.stderr, flush=True)
        return 1

    stop_requested = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    signal.signal(signal.SIGINT, lambda *_: stop_requested.set())
    time.sleep(float(release["start_delay"]))
    if stop_requested.is_set():
        log("stopped before listening")
        return 0
    try:
        server = SampleServer((args.host, args.port), release)
    except OSError as e:
        print("sample: cannot listen on %s:%d: %s" % (args.host, args.port, e), file=sys.stderr, flush=True)
        return 1

    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    serving.start()
    log("started version %s mode %s on %s:%d" % (release["version"], release["mode"], args.host, args.port))
    while not stop_requested.wait(0.5):
        pass
    server.stopping.set()
    server.shutdown()
    server.server_close()  # new connections are refused from here on
    left = server.inflight.wait_idle(GRACE_SECONDS)
    log("stopped version %s (%d request(s) still in flight after grace)" % (release["version"], left))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
