package peft

import (
	"fmt"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/gopeft/gopeft/peft/backend"
	"github.com/gopeft/gopeft/peft/encoder"
)

var (
	backendOnce   sync.Once
	sharedBackend backends.Backend
	backendChoice backend.Choice
	backendErr    error
)

// Backend returns the process-wide compute backend, created on first use
// with backend.New (which also installs the fast DotGeneral gradient).
// Every model, run and estimate in a process shares it.
func Backend() (backends.Backend, error) {
	backendOnce.Do(func() {
		sharedBackend, backendChoice, backendErr = backend.New()
	})
	return sharedBackend, backendErr
}

// BackendChoice says which backend Backend uses and why.
func BackendChoice() backend.Choice {
	_, _ = Backend()
	return backendChoice
}

// initVariables creates every variable that build touches (with a tiny dummy
// batch) and initialises the missing ones, seeded.
func initVariables(ctx *context.Context, seed int64, build func(ctx *context.Context, in encoder.Inputs)) error {
	b, err := Backend()
	if err != nil {
		return err
	}
	ctx.SetParam(context.ParamInitialSeed, seed)
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, g *graph.Graph) *graph.Node {
		ids := graph.Zeros(g, shapes.Make(dtypes.Int32, 1, 2))
		build(ctx, encoder.Inputs{IDs: ids})
		return graph.Const(g, int32(0))
	})
	if err != nil {
		return err
	}
	defer exec.Finalize()
	if _, err := exec.Exec(); err != nil {
		return fmt.Errorf("initialising variables: %w", err)
	}
	return nil
}
