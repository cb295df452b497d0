import re
import time

from test_kan_widget_e2e import BLOCKING, RECORDER, run_cell, set_slider, start_widget, wait_status


def test_dbg(page, jupyter_server, kernel, artifacts):
    frames = []
    def on_ws(ws):
        ws.on("framesent", lambda p: frames.append(("sent", time.time(), p if isinstance(p, str) else p.decode("latin-1"))))
        ws.on("framereceived", lambda p: frames.append(("recv", time.time(), p if isinstance(p, str) else p.decode("latin-1"))))
    page.on("websocket", on_ws)
    start_widget(page, jupyter_server, kernel)
    run_cell(page, RECORDER)
    print("supportsSubshells", page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.supportsSubshells"))
    n0 = len(frames)
    run_cell(page, BLOCKING, wait=False)
    wait_status(page, "/running · step [1-9]/.test(t)", timeout=120_000)
    set_slider(page, "lambda", 500)
    time.sleep(2)
    for d, t, p in frames:
        m = re.findall(r'"msg_type":\s*"(\w+)"', p)
        if any(x in ("comm_msg", "create_subshell_request", "create_subshell_reply", "execute_request") for x in m) and (d == "sent" or "subshell" in p):
            sub = re.findall(r'"subshell_id":\s*("?[\w-]*"?)', p)
            print(d, round(t % 1000, 2), m[:2], sub, p[:0])
    jupyter_server.api(f"/api/kernels/{jupyter_server.api('/api/sessions')[0]['kernel']['id']}/interrupt", method="POST")
