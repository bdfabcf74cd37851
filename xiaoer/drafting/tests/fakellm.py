"""A local OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1, streamed
or whole answers, and on demand a slow answer, 429, 500 or a body that is not the protocol.
Nothing is downloaded; no model runs — the test sets the reply."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLlm:
    def __init__(self) -> None:
        self.mode = "ok"  # ok, slow, drip (a piece every 0.4 s, for ever), 429, 500, malformed, empty
        self.reply = "亲，好的～"
        self.delay = 3.0
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization", ""), "body": body})
                try:
                    fake.answer(self, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> FakeLlm:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode in ("429", "500"):
            self._send(handler, int(self.mode), "application/json", b'{"error": {"message": "busy"}}')
            return
        streamed = bool(body.get("stream"))
        if self.mode == "malformed":
            self._send(handler, 200, "text/event-stream" if streamed else "application/json",
                       b"data: {not json\n\n" if streamed else b"<html>gateway</html>")
            return
        text = "" if self.mode == "empty" else self.reply
        usage = {"prompt_tokens": 321, "completion_tokens": 12, "total_tokens": 333}
        if not streamed:
            payload = {"id": "x", "object": "chat.completion", "model": body.get("model"),
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}], "usage": usage}
            self._send(handler, 200, "application/json", json.dumps(payload).encode())
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for start in range(0, len(text) if self.mode != "drip" else 10_000, 4):
            if self.mode == "drip":
                time.sleep(0.4)
            chunk = {"choices": [{"index": 0, "delta": {"content": text[start:start + 4]}}]}
            handler.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            handler.wfile.flush()
        handler.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\ndata: [DONE]\n\n".encode())
        handler.wfile.flush()

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, data: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
