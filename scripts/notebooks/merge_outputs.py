"""Copies an executed notebook's outputs into the committed one:
python3 merge_outputs.py EXECUTED.ipynb NOTEBOOK.ipynb.

The committed notebook keeps its own markdown (which may have been edited
since the run); every code cell must be unchanged, or nothing is written.
"""
import json
import sys


def main(executed_path, target_path):
    executed, target = json.load(open(executed_path)), json.load(open(target_path))
    code = lambda nb: [c for c in nb["cells"] if c["cell_type"] == "code"]
    ran, keep = code(executed), code(target)
    if len(ran) != len(keep):
        sys.exit("%s: %d code cells, the executed notebook has %d: re-run it" % (target_path, len(keep), len(ran)))
    for i, (a, b) in enumerate(zip(ran, keep)):
        if "".join(a["source"]) != "".join(b["source"]):
            sys.exit("%s: code cell %d changed since the run: re-run it" % (target_path, i + 1))
        b["outputs"], b["execution_count"] = a["outputs"], a.get("execution_count")
    for key in ("language_info", "widgets"):
        if key in executed["metadata"]:
            target["metadata"][key] = executed["metadata"][key]
    with open(target_path, "w") as f:
        json.dump(target, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])
