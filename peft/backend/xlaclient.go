package backend

import (
	"os"
	"strings"

	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// EnvXLAPreallocate set to "false" makes the XLA GPU client allocate device
// memory as it needs it instead of reserving 75% of the GPU up front (the
// PJRT GPU plugin's "preallocate" client option, which JAX exposes as
// XLA_PYTHON_CLIENT_PREALLOCATE). Benchmarks set it so that the memory a
// process holds is what it used; sharing a GPU between notebooks wants it too.
const EnvXLAPreallocate = "GOPEFT_XLA_PREALLOCATE"

// newXLAWithOptions starts an "xla:<plugin>" config with the client options
// the environment asks for; ok is false when there are none (the caller uses
// GoMLX's plain constructor).
func newXLAWithOptions(config string) (b backends.Backend, ok bool, err error) {
	name, plugin, _ := strings.Cut(config, ":")
	if name != "xla" || plugin == "" || strings.ToLower(os.Getenv(EnvXLAPreallocate)) != "false" {
		return nil, false, nil
	}
	b, err = xla.NewWithOptions(plugin, pjrt.NamedValuesMap{"preallocate": false})
	return b, true, err
}
