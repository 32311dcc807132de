"""Shared checks for the gopeft kernel test suites: skip cleanly when the
kernel cannot run here (no gonb, no Jupyter, no installed kernelspec)."""

import os
import shutil
import unittest

KERNEL_NAME = os.environ.get("GOPEFT_KERNEL_NAME", "gopeft")


def has_tool(name):
    """Whether the kernel will find the named program (as the kernel looks)."""
    paths = os.environ.get("PATH", "").split(os.pathsep)
    try:
        from jupyter_client.kernelspec import KernelSpecManager
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        paths += (spec.env.get("GOPEFT_TOOL_PATH", "") or "").split(os.pathsep)
    except Exception:
        pass
    paths += [os.path.expanduser("~/go/bin"), "/usr/local/bin"]
    return any(os.path.exists(os.path.join(p, name)) for p in paths if p)


def missing():
    """Returns why the gopeft kernel cannot be tested here, or ''."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return "jupyter_client is not installed (apt-get install jupyter-client; run with /usr/bin/python3)"
    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return "kernelspec %r not installed (run: gopeft kernel install)" % KERNEL_NAME
    paths = os.environ.get("PATH", "").split(os.pathsep)
    paths += (spec.env.get("GOPEFT_TOOL_PATH", "") or "").split(os.pathsep)
    paths += [os.path.expanduser("~/go/bin"), "/usr/local/bin", os.path.dirname(spec.argv[0])]
    if not any(os.path.exists(os.path.join(p, "gonb")) for p in paths if p):
        return "gonb is not installed (go build -o /usr/local/bin/gonb github.com/janpfeifer/gonb)"
    if not os.path.exists(spec.argv[0]) and not shutil.which(spec.argv[0]):
        return "kernelspec %r points at %s, which does not exist; re-run gopeft kernel install" % (
            KERNEL_NAME, spec.argv[0])
    return ""


def skip_unless_kernel(cls):
    why = missing()
    if why:
        return unittest.skip(why)(cls)
    return cls
