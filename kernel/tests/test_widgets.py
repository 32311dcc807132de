"""The Jupyter widget protocol as the gopeft kernel speaks it (kernel/widgets.go),
driven with jupyter_client playing the front-end:

- no front-end announced (nbclient, a console): protocol 2.1.0 comms
  (ipywidgets 8), a static HTML snapshot in the display, Interact ends at once;
- a 2.1.0 front-end (a "jupyter.widget.control" comm): state sync with
  echo_update, request_states, Interact serving until Done;
- an ipywidgets 6 front-end (Debian's classic Notebook: a
  "jupyter.widget.version" comm): flat state, "backbone" syncs, "display";
- an ipywidgets 7 front-end (comm_info only): protocol 2.0.0;
- nbclient: snapshots and the widget state it saves in the notebook.

Run: cd kernel/tests && /usr/bin/python3 -m unittest -v test_widgets
About 30 s on 2 cores (four kernel starts, small cells).
"""

import json
import os
import time
import unittest
import uuid

from kernelenv import KERNEL_NAME, missing
from test_protocol import TIMEOUT, run_cell, stdout_of

SKIP = missing()
IMPORT = 'import "github.com/gopeft/gopeft/widgets"\n'
VIEW = "application/vnd.jupyter.widget-view+json"


def comm(kc, msg_type, comm_id, data, target=None, buffers=None):
    """Sends a comm message from the 'front-end'; returns its msg_id after
    the kernel's idle under it."""
    content = {"comm_id": comm_id, "data": data}
    if target:
        content["target_name"] = target
    msg = kc.session.msg(msg_type, content)
    kc.shell_channel.send(msg) if not buffers else kc.session.send(kc.shell_channel.socket, msg, buffers=buffers)
    replies = []
    deadline = time.time() + TIMEOUT
    while True:
        m = kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
        if m["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return replies
        if m["msg_type"] != "status":
            replies.append(m)


def opens(msgs):
    return {m["content"]["comm_id"]: m for m in msgs if m["msg_type"] == "comm_open"}


class WidgetKernel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from jupyter_client.manager import start_new_kernel
        cls.km, cls.kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel()

    def cell(self, code):
        reply, msgs = run_cell(self.kc, IMPORT + "%%\n" + code)
        self.assertEqual(reply["status"], "ok", reply)
        return msgs


@unittest.skipIf(SKIP, SKIP)
class Protocol21(WidgetKernel):
    """ipywidgets 8's protocol; first without a front-end, then with one."""

    def test_1_slider_without_frontend(self):
        msgs = self.cell('s := widgets.IntSlider("n", 3, 0, 12)\nwidgets.Show(s)')
        widgets = [m for m in msgs if m["msg_type"] == "comm_open"]
        self.assertTrue(widgets, [m["msg_type"] for m in msgs])
        slider = [m for m in widgets if m["content"]["data"]["state"]["_model_name"] == "IntSliderModel"]
        self.assertEqual(len(slider), 1)
        c = slider[0]["content"]
        self.assertEqual(c["target_name"], "jupyter.widget")
        self.assertEqual(slider[0]["metadata"], {"version": "2.1.0"})
        st = c["data"]["state"]
        self.assertEqual((st["value"], st["min"], st["max"], st["description"]), (3, 0, 12, "n"))
        self.assertEqual((st["_model_module"], st["_model_module_version"]), ("@jupyter-widgets/controls", "2.0.0"))
        self.assertEqual(c["data"]["buffer_paths"], [])
        # Its layout and style models open first, so the references resolve.
        layout = st["layout"][len("IPY_MODEL_"):]
        ids = [m["content"]["comm_id"] for m in widgets]
        self.assertLess(ids.index(layout), ids.index(c["comm_id"]))
        self.assertEqual(opens(msgs)[layout]["content"]["data"]["state"]["_model_name"], "LayoutModel")
        disp = [m for m in msgs if m["msg_type"] == "display_data"]
        self.assertEqual(len(disp), 1)
        data = disp[0]["content"]["data"]
        self.assertEqual(data[VIEW]["model_id"], c["comm_id"])
        self.assertEqual((data[VIEW]["version_major"], data[VIEW]["version_minor"]), (2, 0))
        self.assertIn("IntSlider(n=3)", data["text/plain"])
        self.assertIn("3", data["text/html"])
        type(self).slider = c["comm_id"]

        # The front-end moves it; a later cell reads it.
        out = comm(self.kc, "comm_msg", self.slider, {"method": "update", "state": {"value": 7}, "buffer_paths": []})
        echo = [m["content"]["data"] for m in out if m["msg_type"] == "comm_msg"]
        self.assertEqual(echo, [{"method": "echo_update", "state": {"value": 7}, "buffer_paths": []}])
        self.assertEqual(stdout_of(self.cell('fmt.Println(widgets.Value("n"))')).strip(), "7")
        # Re-running the cell keeps the reader's value (same model, no new comm).
        msgs = self.cell('s := widgets.IntSlider("n", 3, 0, 12)\nfmt.Println(s.Int())')
        self.assertEqual(stdout_of(msgs).strip(), "7")
        self.assertNotIn(self.slider, opens(msgs))

    def test_2_interact_without_frontend_ends_at_once(self):
        t = time.time()
        msgs = self.cell('d := widgets.Dropdown("m", []string{"lora", "ia3"}, "ia3")\n'
                         'widgets.Interact(func(v widgets.Values) string { return "<b>method " + v.String("m") + "</b>" }, d)')
        self.assertLess(time.time() - t, 60)
        html = [m["content"]["data"].get("text/html", "") for m in msgs if m["msg_type"] == "display_data"]
        self.assertTrue(any("<b>method ia3</b>" in h for h in html), html)
        drop = [m["content"]["data"]["state"] for m in msgs if m["msg_type"] == "comm_open"
                and m["content"]["data"]["state"]["_model_name"] == "DropdownModel"][0]
        self.assertEqual((drop["_options_labels"], drop["index"]), (["lora", "ia3"], 1))

    def test_3_interact_with_frontend(self):
        # A 2.1.0 widget manager connects: control comm, request_states.
        ctl = uuid.uuid4().hex
        comm(self.kc, "comm_open", ctl, {}, target="jupyter.widget.control")
        out = comm(self.kc, "comm_msg", ctl, {"method": "request_states"})
        states = out[0]["content"]["data"]
        self.assertEqual(states["method"], "update_states")
        self.assertIn(self.slider, states["states"])
        self.assertEqual(states["states"][self.slider]["model_name"], "IntSliderModel")
        self.assertEqual(states["states"][self.slider]["state"]["value"], 7)
        # comm_info lists the models (a widget manager's other way in).
        self.kc.comm_info(target_name="jupyter.widget")
        info = self.kc.get_shell_msg(timeout=TIMEOUT)["content"]
        self.assertEqual(info["comms"][self.slider], {"target_name": "jupyter.widget"})

        msg_id = self.kc.execute(IMPORT + '%%\nn := widgets.IntSlider("drop", 0, 0, 12)\n'
                                 'widgets.Interact(func(v widgets.Values) string { return fmt.Sprintf("<p>dropped %d</p>", v.Int("drop")) }, n)\n'
                                 'fmt.Println("after", n.Int())')
        models, done, view = {}, None, None
        deadline = time.time() + TIMEOUT
        while done is None:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["msg_type"] == "comm_open":
                st = m["content"]["data"]["state"]
                models[m["content"]["comm_id"]] = st
                if st["_model_name"] == "ButtonModel" and st["description"] == "Done":
                    done = m["content"]["comm_id"]
        slider = [i for i, s in models.items() if s["_model_name"] == "IntSliderModel"][0]
        view = [i for i, s in models.items() if s["_model_name"] == "HTMLModel"][0]
        self.assertEqual(models[view]["value"], "<p>dropped 0</p>")
        comm(self.kc, "comm_msg", slider, {"method": "update", "state": {"value": 4}, "buffer_paths": []})
        deadline = time.time() + TIMEOUT
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == view:
                self.assertEqual(m["content"]["data"]["method"], "update")
                self.assertEqual(m["content"]["data"]["state"], {"value": "<p>dropped 4</p>"})
                break
        comm(self.kc, "comm_msg", done, {"method": "custom", "content": {"event": "click"}})
        msgs = []
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
            msgs.append(m)
        self.assertIn("after 4", stdout_of(msgs))

    def test_5_interrupt_ends_serve(self):
        # The other documented way out: an interrupt ends Serve, the cell goes on.
        msg_id = self.kc.execute(IMPORT + '%%\nn := widgets.IntSlider("w", 1, 0, 3)\n'
                                 'widgets.Interact(func(v widgets.Values) string { return "x" }, n)\n'
                                 'fmt.Println("went on")')
        deadline = time.time() + TIMEOUT
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["msg_type"] == "comm_open" and m["content"]["data"]["state"].get("description") == "Done":
                break
        time.sleep(0.3)
        self.km.interrupt_kernel()
        msgs = []
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
            msgs.append(m)
        self.assertIn("went on", stdout_of(msgs))

    def test_4_custom_messages_and_buffers(self):
        # A cell answers a view's custom message, binary buffers both ways.
        ctl = uuid.uuid4().hex
        comm(self.kc, "comm_open", ctl, {}, target="jupyter.widget.control")
        msg_id = self.kc.execute(IMPORT + '%%\nb := widgets.Button("echo", "Echo")\n'
                                 'b.OnMessage(func(c map[string]any, bufs [][]byte) { b.Send(map[string]any{"got": c["x"]}, append(bufs[0], 9)) })\n'
                                 'widgets.Show(b)\nwidgets.Serve()')
        models, done, button = {}, None, None
        deadline = time.time() + TIMEOUT
        while done is None:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["msg_type"] == "comm_open":
                st = m["content"]["data"]["state"]
                if st["_model_name"] == "ButtonModel":
                    if st["description"] == "Done":
                        done = m["content"]["comm_id"]
                    else:
                        button = m["content"]["comm_id"]
        comm(self.kc, "comm_msg", button, {"method": "custom", "content": {"x": 5}}, buffers=[b"\x01\x02"])
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == button:
                self.assertEqual(m["content"]["data"], {"method": "custom", "content": {"got": 5}})
                self.assertEqual([bytes(b) for b in m["buffers"]], [b"\x01\x02\x09"])
                break
        comm(self.kc, "comm_msg", done, {"method": "custom", "content": {"event": "click"}})
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.time()))
            if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status" \
                    and m["content"]["execution_state"] == "idle":
                break


@unittest.skipIf(SKIP, SKIP)
class Protocol6(WidgetKernel):
    """ipywidgets 6.0 (Debian 12's classic Notebook extension)."""

    def test_ipywidgets6(self):
        ver = uuid.uuid4().hex
        out = comm(self.kc, "comm_open", ver, {}, target="jupyter.widget.version")
        self.assertEqual([m["content"]["data"] for m in out if m["msg_type"] == "comm_msg"], [{"version": "~2.1.4"}])
        comm(self.kc, "comm_msg", ver, {"validated": True, "frontend_version": "2.1.4"})
        msgs = self.cell('s := widgets.IntSlider("k", 2, 0, 5)\nwidgets.Show(s)')
        slider = [m for m in msgs if m["msg_type"] == "comm_open"
                  and m["content"]["data"].get("_model_name") == "IntSliderModel"]
        self.assertEqual(len(slider), 1)
        st = slider[0]["content"]["data"]  # flat state, no {state: ...}
        sid = slider[0]["content"]["comm_id"]
        self.assertEqual((st["_model_module"], st["_model_module_version"], st["_view_name"]),
                         ("jupyter-js-widgets", "~2.1.4", "IntSliderView"))
        self.assertEqual(st["value"], 2)
        self.assertIn({"method": "display"}, [m["content"]["data"] for m in msgs
                                              if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == sid])
        disp = [m["content"]["data"] for m in msgs if m["msg_type"] == "display_data"]
        self.assertEqual(disp, [{VIEW: {"model_id": sid, "version_major": 2, "version_minor": 0}}])
        # The classic Notebook syncs with "backbone"; no echo in 6.
        out = comm(self.kc, "comm_msg", sid, {"method": "backbone", "sync_data": {"value": 4}, "buffer_keys": []})
        self.assertEqual(out, [])
        self.assertEqual(stdout_of(self.cell('fmt.Println(widgets.Value("k"))')).strip(), "4")
        # A page reload: request_state answers the full state.
        out = comm(self.kc, "comm_msg", sid, {"method": "request_state"})
        data = out[0]["content"]["data"]
        self.assertEqual((data["method"], data["state"]["value"], data["state"]["_model_name"]), ("update", 4, "IntSliderModel"))


@unittest.skipIf(SKIP, SKIP)
class Protocol20(WidgetKernel):
    """ipywidgets 7 (JupyterLab 3, widgetsnbextension 3.x): its manager asks
    comm_info and opens no control comm."""

    def test_ipywidgets7(self):
        self.kc.comm_info(target_name="jupyter.widget")
        self.kc.get_shell_msg(timeout=TIMEOUT)
        msgs = self.cell('s := widgets.ToggleButtons("q", []string{"a", "b", "c"}, "b")\nwidgets.Show(s)')
        tb = [m for m in msgs if m["msg_type"] == "comm_open"
              and m["content"]["data"]["state"]["_model_name"] == "ToggleButtonsModel"][0]
        self.assertEqual(tb["metadata"], {"version": "2.0.0"})
        st = tb["content"]["data"]["state"]
        self.assertEqual((st["_model_module_version"], st["index"], st["_options_labels"]), ("1.5.0", 1, ["a", "b", "c"]))
        out = comm(self.kc, "comm_msg", tb["content"]["comm_id"], {"method": "update", "state": {"index": 2}, "buffer_paths": []})
        self.assertEqual(out, [])  # no echo_update before 2.1.0
        self.assertEqual(stdout_of(self.cell('fmt.Println(widgets.Value("q"))')).strip(), "c")


@unittest.skipIf(SKIP, SKIP)
class Nbclient(unittest.TestCase):
    """nbclient (what nbconvert --execute runs): no front-end, so the cell
    ends at once with static snapshots, and nbclient saves the widget state
    from the 2.1.0 comms into the notebook's metadata."""

    def test_snapshot_and_saved_state(self):
        import nbformat
        from nbclient import NotebookClient
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_code_cell(IMPORT + "%%\n"
            's := widgets.IntSlider("r", 8, 1, 64)\n'
            'widgets.Interact(func(v widgets.Values) string { return fmt.Sprintf("<em>rank %d</em>", v.Int("r")) }, s)\n'
            'o := widgets.Output("curve", "<i>step 0</i>")\nwidgets.Show(o)\no.Update("<i>step 10</i>")'))
        t = time.time()
        NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=TIMEOUT, startup_timeout=TIMEOUT).execute()
        self.assertLess(time.time() - t, 90)
        outs = nb.cells[0].outputs
        html = [o["data"].get("text/html", "") for o in outs if o["output_type"] == "display_data"]
        self.assertTrue(any("<em>rank 8</em>" in h for h in html), html)
        # The Output's snapshot is its last content (update_display_data).
        self.assertIn("<i>step 10</i>", html)
        self.assertTrue(all(VIEW in o["data"] for o in outs if o["output_type"] == "display_data"))
        state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]
        self.assertEqual((state["version_major"], state["version_minor"]), (2, 0))
        sliders = [w for w in state["state"].values() if w["model_name"] == "IntSliderModel"]
        self.assertEqual(len(sliders), 1)
        self.assertEqual(sliders[0]["state"]["value"], 8)
        views = [w["state"]["value"] for w in state["state"].values() if w["model_name"] == "HTMLModel"]
        self.assertIn("<i>step 10</i>", views)
        self.assertIn("<em>rank 8</em>", views)
        # nbconvert: with the state, the page renders the widgets (from the
        # state, with the widgets' JavaScript); without it, the snapshots.
        from nbconvert import HTMLExporter
        live, _ = HTMLExporter().from_notebook_node(nb)
        self.assertIn("application/vnd.jupyter.widget-state+json", live)
        del nb.metadata["widgets"]
        static, _ = HTMLExporter().from_notebook_node(nb)
        self.assertIn("<em>rank 8</em>", static)
        self.assertIn("<i>step 10</i>", static)


if __name__ == "__main__":
    unittest.main()
