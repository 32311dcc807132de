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
// batch) and initialises the missing ones, seeded. The dummy graph is only
// built, never compiled: building it is what creates the variables, and
// compiling a whole encoder forward for that cost most of NewModel's and
// NewTuned's time on XLA. Only the initialisers' graph is compiled and run.
func initVariables(ctx *context.Context, seed int64, build func(ctx *context.Context, in encoder.Inputs)) error {
	b, err := Backend()
	if err != nil {
		return err
	}
	ctx.SetParam(context.ParamInitialSeed, seed)
	g := graph.NewGraph(b, "gopeft_variables")
	defer g.Finalize()
	if err := buildOnly(func() {
		build(ctx, encoder.Inputs{IDs: graph.Zeros(g, shapes.Make(dtypes.Int32, 1, 2))})
	}); err != nil {
		return fmt.Errorf("creating variables: %w", err)
	}
	if err := ctx.InitializeVariables(b, nil); err != nil {
		return fmt.Errorf("initialising variables: %w", err)
	}
	return nil
}

// buildOnly runs graph-building code, turning its panics (GoMLX's way of
// reporting shape errors) into an error.
func buildOnly(build func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	build()
	return nil
}
