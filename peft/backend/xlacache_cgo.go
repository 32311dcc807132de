//go:build cgo && linux

package backend

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "xlacache.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"unsafe"
)

// installCompileHook routes the loaded PJRT plugin's compile calls through
// gopeftCompile.
func installCompileHook() error {
	switch C.gopeft_cache_install() {
	case 0:
		return nil
	case 1:
		return errors.New("no PJRT plugin is loaded")
	case 3:
		return errors.New("the PJRT plugin predates executable serialisation")
	default:
		return errors.New("the PJRT plugin's function table could not be changed")
	}
}

// gopeftCompile stands in for the plugin's PJRT_Client_Compile: it loads
// the executable when the cache has it, else compiles and stores it. It
// returns the PJRT_Error of the plugin's compile, or nil.
//
//export gopeftCompile
func gopeftCompile(args unsafe.Pointer) unsafe.Pointer {
	var code, format, options *C.char
	var codeN, formatN, optionsN C.size_t
	C.gopeft_compile_inputs(args, &code, &codeN, &format, &formatN, &options, &optionsN)
	key := cacheKey(execCache.salt, C.GoStringN(format, C.int(formatN)),
		unsafe.Slice((*byte)(unsafe.Pointer(code)), int(codeN)),
		unsafe.Slice((*byte)(unsafe.Pointer(options)), int(optionsN)))
	path := cachePath(execCache.dir, key)
	if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
		err := load(args, data)
		if err == nil {
			execCache.hits.Add(1)
			touch(path)
			return nil
		}
		// A damaged or incompatible entry: compile, and store a good one.
		warnCache("loading "+path, err)
		_ = os.Remove(path)
	}
	if perr := C.gopeft_plugin_compile(args); perr != nil {
		return perr
	}
	execCache.misses.Add(1)
	data, err := serialize(C.gopeft_compile_executable(args))
	if err != nil {
		warnCache("serialising", err)
		return nil
	}
	storeExecutable(path, data)
	return nil
}

// load deserialises data onto the compile call's client and sets it as the
// call's result.
func load(args unsafe.Pointer, data []byte) error {
	cdata := C.CBytes(data)
	defer C.free(cdata)
	var loaded unsafe.Pointer
	if perr := C.gopeft_deserialize(C.gopeft_compile_client(args), (*C.char)(cdata), C.size_t(len(data)), &loaded); perr != nil {
		return pjrtError(perr)
	}
	if loaded == nil {
		return errors.New("the plugin returned no executable")
	}
	C.gopeft_compile_set_executable(args, loaded)
	return nil
}

func serialize(loaded unsafe.Pointer) ([]byte, error) {
	var bytes *C.char
	var size C.size_t
	var handle, deleter unsafe.Pointer
	if perr := C.gopeft_serialize(loaded, &bytes, &size, &handle, &deleter); perr != nil {
		return nil, pjrtError(perr)
	}
	defer C.gopeft_serialized_free(handle, deleter)
	if size == 0 {
		return nil, errors.New("the plugin serialised the executable to 0 bytes")
	}
	return C.GoBytes(unsafe.Pointer(bytes), C.int(size)), nil
}

// pjrtError turns a PJRT_Error into a Go error and destroys it.
func pjrtError(perr unsafe.Pointer) error {
	buf := (*C.char)(C.malloc(1024))
	defer C.free(unsafe.Pointer(buf))
	C.gopeft_error_text(perr, buf, 1024)
	return fmt.Errorf("PJRT: %s", C.GoString(buf))
}
