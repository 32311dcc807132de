package backend

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// EnvPJRTOptions passes PJRT client options to an XLA backend, as
// comma-separated key=value pairs, e.g. "preallocate=false" (XLA's GPU
// client otherwise takes 75% of the device's memory up front, so a second
// process on the same GPU fails) or "memory_fraction=0.3". Values "true"
// and "false" are booleans, integers int64, other numbers float32, the
// rest strings: the types the CUDA plugin's options take.
const EnvPJRTOptions = "GOPEFT_PJRT_OPTIONS"

// parsePJRTOptions parses EnvPJRTOptions' format.
func parsePJRTOptions(s string) (pjrt.NamedValuesMap, error) {
	m := pjrt.NamedValuesMap{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %q is not key=value (e.g. preallocate=false,memory_fraction=0.3)", EnvPJRTOptions, kv)
		}
		switch {
		case v == "true" || v == "false":
			m[k] = v == "true"
		default:
			if i, err := strconv.ParseInt(v, 10, 64); err == nil {
				m[k] = i
			} else if f, err := strconv.ParseFloat(v, 32); err == nil {
				m[k] = float32(f)
			} else {
				m[k] = v
			}
		}
	}
	return m, nil
}

// newXLAWithOptions creates an XLA backend with EnvPJRTOptions' options,
// or reports ok=false when the config is not XLA's or no options are set.
func newXLAWithOptions(config string) (b backends.Backend, ok bool, err error) {
	name, plugin, _ := strings.Cut(config, ":")
	opts := os.Getenv(EnvPJRTOptions)
	if name != xla.BackendName || opts == "" {
		return nil, false, nil
	}
	m, err := parsePJRTOptions(opts)
	if err != nil {
		return nil, true, err
	}
	xb, err := xla.NewWithOptions(plugin, m)
	if err != nil {
		return nil, true, err
	}
	return xb, true, nil
}
