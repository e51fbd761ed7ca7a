"""Helpers for driving Parley's realtime endpoint with python-socketio."""
import threading
import time

import socketio


class Recorder:
    """Collects events per name; lets a test wait for one instead of sleeping."""

    def __init__(self):
        self.events = []
        self.cond = threading.Condition()

    def handler(self, name):
        def record(*args):
            # With connection-state recovery, persisted events carry an offset as a last, extra
            # argument (docs/realtime.md); the payload is the first.
            if len(args) == 2 and isinstance(args[1], str):
                args = args[:1]
            with self.cond:
                self.events.append((name, args[0] if len(args) == 1 else args))
                self.cond.notify_all()
        return record

    def of(self, name):
        with self.cond:
            return [payload for (n, payload) in self.events if n == name]

    def wait_for(self, name, predicate=lambda payload: True, timeout=10):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for n, payload in self.events:
                    if n == name and predicate(payload):
                        return payload
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no {name} matching within {timeout}s; got {self.events}"
                self.cond.wait(remaining)


EVENTS = ["online-users", "user-online", "user-offline", "new-message", "typing", "stop-typing", "disconnect",
          "messages-read", "message-updated", "message-deleted"]


def connect(server, token=None, cookie=None, transports=("websocket",), headers=None, auth=None):
    """A connected client and its recorder (raises socketio.exceptions.ConnectionError if refused)."""
    # websocket-client adds its own Origin unless told not to; a browser sends exactly one.
    custom_origin = any(key.lower() == "origin" for key in (headers or {}))
    sio = socketio.Client(reconnection=False,
                          websocket_extra_options={"suppress_origin": True} if custom_origin else {})
    recorder = Recorder()
    for event in EVENTS:
        sio.on(event, recorder.handler(event))
    sio.on("connect_error", recorder.handler("connect_error"))
    all_headers = dict(headers or {})
    if cookie:
        all_headers["Cookie"] = f"jwt={cookie}"
    if auth is None and token:
        auth = {"token": token}
    sio.connect(server.url, transports=list(transports), headers=all_headers, auth=auth, wait_timeout=10)
    return sio, recorder
