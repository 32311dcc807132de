//go:build !cgo || !linux

package backend

import "errors"

func installCompileHook() error {
	return errors.New("the executable cache needs cgo on Linux")
}
