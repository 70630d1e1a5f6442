"""Run code in a Jupyter kernel over its websocket, as JupyterLab does.

Two traps make a naive client flaky under load: a request sent before the kernel listens is
lost (so we wait for a ``kernel_info_reply``, asking again every two seconds), and the shell
reply and the iopub return to idle arrive in either order (so we wait for both).
"""

from __future__ import annotations

import json
import time
import uuid

from websockets.sync.client import connect


def message(msg_type: str, content: dict) -> dict:
    return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "username": "test",
                       "session": uuid.uuid4().hex, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "content": content}


def execute(ws_url: str, headers: dict[str, str], code: str, timeout: float = 150) -> str:
    """Execute ``code`` in the kernel behind ``ws_url``; return its output, or fail with it."""
    out, reply, idle = [], None, False
    deadline = time.monotonic() + timeout
    with connect(ws_url, additional_headers=headers, open_timeout=60) as ws:
        _wait_until_listening(ws, deadline)
        request = message("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        msg_id = request["header"]["msg_id"]
        ws.send(json.dumps(request))
        while not (reply and idle):
            msg = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "execute_reply":
                reply = msg["content"]["status"]
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
    assert reply == "ok", "".join(out)
    return "".join(out)


def _wait_until_listening(ws, deadline: float) -> None:
    while True:
        info = message("kernel_info_request", {})
        ws.send(json.dumps(info))
        try:
            while True:
                msg = json.loads(ws.recv(timeout=2))
                if msg["parent_header"].get("msg_id") == info["header"]["msg_id"] and \
                        msg["msg_type"] == "kernel_info_reply":
                    return
        except TimeoutError:
            assert time.monotonic() < deadline, "the kernel never answered kernel_info"
