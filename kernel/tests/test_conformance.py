"""Jupyter kernel conformance (python3-jupyter-kernel-test) for the gopeft kernel.

Run: cd kernel/tests && /usr/bin/python3 -m unittest -v test_conformance
The first cell compiles GoPEFT's dependencies; later cells take about a second.
"""

import os
import unittest

import jupyter_kernel_test as jkt

from kernelenv import KERNEL_NAME, has_tool, skip_unless_kernel

GOPLS = has_tool("gopls")

# Each Go cell compiles a program; the suite's default 15 s is tight for the
# first one on a 2-core machine.
jkt.TIMEOUT = int(os.environ.get("GOPEFT_TEST_TIMEOUT", "120"))


@skip_unless_kernel
class GoPEFTKernelTests(jkt.KernelTests):
    kernel_name = KERNEL_NAME
    language_name = "go"
    file_extension = ".go"

    code_hello_world = '%%\nfmt.Println("hello, world")'
    code_stderr = '%%\nfmt.Fprintln(os.Stderr, "to stderr")'

    # GoNB completes and inspects through gopls; without gopls completion
    # replies are empty (still well-formed) and inspect is not tested.
    completion_samples = [{"text": "%%\nx := 1\nx"}] + (
        [{"text": "%%\nfmt.Pri", "matches": ["Print", "Printf", "Println"]},
         {"text": 'import "strings"\n%%\nstrings.ToU', "matches": ["ToUpper", "ToUpperSpecial", "ToValidUTF8"]}]
        if GOPLS else [{"text": "fmt.Pri"}])
    code_inspect_sample = "%%\nfmt.Println" if GOPLS else ""

    complete_code_samples = [
        'import "fmt"',
        "func f() int { return 1 }",
        '%%\nfmt.Println("x")',
        "!ls",
        "%backend",
        "var x = []int{\n\t1,\n}",
    ]
    incomplete_code_samples = ["func f() {", "var x = []int{1,", "x := `raw", "x := 1 +"]
    invalid_code_samples = ["func f() }", ")", 'x := "unterminated']

    # A program that exits non-zero must be an error (GoNB alone says ok).
    code_generate_error = "%%\nos.Exit(3)"

    # gonbui.Sync waits until GoNB has published what the program sent; GoNB
    # drops display data still in its pipe when the program exits.
    code_display_data = [
        {
            "code": 'import "github.com/janpfeifer/gonb/gonbui"\n%%\ndefer gonbui.Sync()\ngonbui.DisplayHTML("<b>hi</b>")',
            "mime": "text/html",
        },
        {
            "code": 'import "github.com/janpfeifer/gonb/gonbui"\n%%\ndefer gonbui.Sync()\ngonbui.DisplayMarkdown("# title")',
            "mime": "text/markdown",
        },
    ]

    # %backend is answered by the kernel itself with an execute_result.
    code_execute_result = [{"code": "%backend", "mime": "text/plain"}]
    code_history_pattern = "%back*"
    supported_history_operations = ("tail", "range", "search")

    def test_kernel_info_fields(self):
        self.flush_channels()
        self.kc.kernel_info()
        reply = self.kc.get_shell_msg(timeout=jkt.TIMEOUT)
        c = reply["content"]
        self.assertEqual(c["implementation"], "gopeft")
        self.assertTrue(c["implementation_version"])
        li = c["language_info"]
        self.assertEqual(li["mimetype"], "text/x-go")
        self.assertEqual(li["pygments_lexer"], "go")
        self.assertEqual(li["codemirror_mode"], "go")
        self.assertGreaterEqual(len(c["help_links"]), 3)

    def test_import_gopeft_without_setup(self):
        self.flush_channels()
        reply, out = self.execute_helper(
            'import "github.com/gopeft/gopeft/peft"\n%%\nfmt.Println("version", peft.Version)',
            timeout=jkt.TIMEOUT,
        )
        text = "".join(m["content"].get("text", "") for m in out if m["msg_type"] == "stream")
        self.assertEqual(reply["content"]["status"], "ok", text)
        self.assertIn("version ", text)

    def test_panic_is_error(self):
        self.flush_channels()
        reply, out = self.execute_helper('%%\nvar m map[string]int\nm["x"] = 1', timeout=jkt.TIMEOUT)
        self.assertEqual(reply["content"]["status"], "error")
        errors = [m for m in out if m["msg_type"] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0]["content"]["ename"], "panic")
        self.assertTrue(any("line 3" in t for t in errors[0]["content"]["traceback"]),
                        errors[0]["content"]["traceback"])


if __name__ == "__main__":
    unittest.main()
