"""Writes a GoPEFT notebook from a list of cells: python3 nbjson.py SPEC.py OUT.ipynb.

SPEC.py defines CELLS = [("md"|"go", source), ...]. The kernelspec is GoPEFT's;
outputs are added by executing the notebook (scripts/run_notebook.py).
"""
import json
import runpy
import sys


def notebook(cells):
    out = []
    for i, (kind, src) in enumerate(cells):
        src = src.strip("\n") + "\n"
        lines = src.splitlines(keepends=True)
        lines[-1] = lines[-1].rstrip("\n")
        if kind == "md":
            out.append({"cell_type": "markdown", "id": f"cell-{i}", "metadata": {}, "source": lines})
        else:
            out.append({"cell_type": "code", "id": f"cell-{i}", "execution_count": None, "metadata": {}, "outputs": [], "source": lines})
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "GoPEFT (Go)", "language": "go", "name": "gopeft"},
            "language_info": {"codemirror_mode": "go", "file_extension": ".go", "mimetype": "text/x-go",
                              "name": "go", "nbconvert_exporter": "script", "pygments_lexer": "go"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


if __name__ == "__main__":
    spec = runpy.run_path(sys.argv[1])
    with open(sys.argv[2], "w") as f:
        json.dump(notebook(spec["CELLS"]), f, indent=1, ensure_ascii=False)
        f.write("\n")
