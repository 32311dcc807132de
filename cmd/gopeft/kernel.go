package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopeft/gopeft/kernel"
	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/peft/backend"
)

func init() {
	register("kernel", "the gopeft Jupyter kernel: install, uninstall, run", runKernelCmd)
}

func runKernelCmd(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(os.Stderr, `Usage: gopeft kernel <install|uninstall|run> [flags]

  install    write the gopeft (and, with a PJRT plugin, gopeft-gpu) kernelspecs
  uninstall  remove them
  run        serve one kernel (what the kernelspec's argv calls)
`)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	switch args[0] {
	case "install":
		return kernelInstall(args[1:])
	case "uninstall":
		return kernelUninstall(args[1:])
	case "run":
		return kernelRun(args[1:])
	}
	fmt.Fprintf(os.Stderr, "gopeft kernel: unknown subcommand %q; use install, uninstall or run\n", args[0])
	return 2
}

// scopeFlags are the location flags shared by install and uninstall.
type scopeFlags struct {
	user, sysPrefix, sys bool
	prefix               string
}

func (s *scopeFlags) add(fs *flag.FlagSet) {
	fs.BoolVar(&s.user, "user", false, "install for the current user (~/.local/share/jupyter); the default when not root")
	fs.BoolVar(&s.sysPrefix, "sys-prefix", false, "install into the Jupyter Python's sys.prefix (set PYTHON to pick the interpreter; default /usr/bin/python3)")
	fs.BoolVar(&s.sys, "system", false, "install system-wide (/usr/local/share/jupyter); the default when root, e.g. for JupyterHub")
	fs.StringVar(&s.prefix, "prefix", "", "install into `DIR`/share/jupyter/kernels")
}

func (s *scopeFlags) dir() (string, string, error) {
	n := 0
	for _, b := range []bool{s.user, s.sysPrefix, s.sys, s.prefix != ""} {
		if b {
			n++
		}
	}
	if n > 1 {
		return "", "", errors.New("choose one of --user, --sys-prefix, --system, --prefix")
	}
	scope := "user"
	switch {
	case s.prefix != "":
		scope = "prefix"
	case s.sysPrefix:
		scope = "sys-prefix"
	case s.sys:
		scope = "system"
	case s.user:
	case os.Geteuid() == 0:
		scope = "system"
	}
	d, err := kernel.KernelsDir(scope, s.prefix)
	return d, scope, err
}

func kernelInstall(args []string) int {
	fs := newFlags("kernel install", "[--user|--sys-prefix|--system|--prefix DIR] [--gpu-plugin PATH] [--root DIR]")
	var sc scopeFlags
	sc.add(fs)
	plugin := fs.String("gpu-plugin", os.Getenv("GOPEFT_PJRT_PLUGIN"), "PJRT plugin `PATH` (.so); also writes the gopeft-gpu kernelspec (default $GOPEFT_PJRT_PLUGIN)")
	root := fs.String("root", "", "GoPEFT source tree cells import github.com/gopeft/gopeft from (default: found from the working directory or this binary)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir, scope, err := sc.dir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft kernel install:", err)
		return 2
	}
	if *root == "" {
		if *root, err = kernel.FindRoot(); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft kernel install:", err)
			return 1
		}
	}
	if *root, err = filepath.Abs(*root); err != nil {
		fmt.Fprintln(os.Stderr, "gopeft kernel install:", err)
		return 1
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft kernel install: cannot find this binary's path:", err)
		return 1
	}
	if strings.Contains(exe, "go-build") {
		fmt.Fprintf(os.Stderr, "gopeft kernel install: %s is a temporary `go run` binary; build gopeft (go build -o /usr/local/bin/gopeft ./cmd/gopeft) and install from it\n", exe)
		return 1
	}
	if *plugin != "" {
		if _, err := os.Stat(*plugin); err != nil {
			fmt.Fprintf(os.Stderr, "gopeft kernel install: PJRT plugin %s: %v; pass the .so of an installed plugin or leave --gpu-plugin out\n", *plugin, err)
			return 1
		}
		if *plugin, err = filepath.Abs(*plugin); err != nil {
			fmt.Fprintln(os.Stderr, "gopeft kernel install:", err)
			return 1
		}
	}
	for _, tool := range []string{"gonb", "goimports"} {
		if _, err := kernel.FindTool(tool); err != nil {
			fmt.Fprintf(os.Stderr, "gopeft kernel install: warning: %v; cells cannot run until it is installed\n", err)
		}
	}
	written, err := kernel.Install(kernel.InstallOptions{Dir: dir, Exe: exe, Root: *root, GPUPlugin: *plugin})
	for _, w := range written {
		fmt.Printf("installed kernelspec %s (%s scope)\n", w, scope)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft kernel install:", err)
		return 1
	}
	if *plugin == "" {
		fmt.Println("no PJRT plugin given (--gpu-plugin or GOPEFT_PJRT_PLUGIN): only the pure-Go kernel \"GoPEFT (Go)\" was installed")
	}
	return 0
}

func kernelUninstall(args []string) int {
	fs := newFlags("kernel uninstall", "[--user|--sys-prefix|--system|--prefix DIR]")
	var sc scopeFlags
	sc.add(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir, _, err := sc.dir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft kernel uninstall:", err)
		return 2
	}
	removed, err := kernel.Uninstall(dir)
	for _, r := range removed {
		fmt.Println("removed", r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft kernel uninstall:", err)
		return 1
	}
	if len(removed) == 0 {
		fmt.Printf("no gopeft kernelspecs in %s\n", dir)
	}
	return 0
}

func kernelRun(args []string) int {
	fs := newFlags("kernel run", "--connection-file FILE")
	conn := fs.String("connection-file", "", "Jupyter connection `FILE` (the kernelspec passes {connection_file})")
	gonb := fs.String("gonb", "", "GoNB binary (default: gonb on PATH, $GOPATH/bin or beside gopeft)")
	root := fs.String("root", "", "GoPEFT source tree (default $GOPEFT_ROOT, as recorded by kernel install)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *conn == "" {
		fmt.Fprintln(os.Stderr, "gopeft kernel run: --connection-file is required; Jupyter starts this through the kernelspec (gopeft kernel install)")
		return 2
	}
	err := kernel.Run(kernel.Options{ConnectionFile: *conn, GoNB: *gonb, Root: *root, Version: peft.Version, Backend: describeBackend})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopeft kernel run:", err)
		return 1
	}
	return 0
}

// describeBackend answers %backend with the same selection cells make.
func describeBackend() string {
	ch, err := backend.Select()
	if err != nil {
		return fmt.Sprintf("backend: cannot be used: %v", err)
	}
	name := ch.Display()
	if ch.Name == "go" {
		name = "go (pure Go, default)"
		if v := os.Getenv("GOMLX_BACKEND"); v != "" {
			name = "go (pure Go, GOMLX_BACKEND=" + v + ")"
		}
	}
	s := "backend: " + name
	if ch.Reason != "" {
		s += "\nreason: " + ch.Reason
	}
	return s
}
