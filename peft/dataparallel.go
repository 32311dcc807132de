package peft

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Data parallelism runs on GoMLX's distributed engine, not on a home-made
// one: the Stepper's graph is compiled with AutoSharding over a device mesh
// of one axis, "batch". The step's inputs (token ids, types, mask, labels)
// are split along their first axis, one slice per device; the weights and
// the optimizer's state are replicated (the context's default), and XLA's
// SPMD partitioner inserts the all-reduce of the gradients and of the loss.
// Each device computes the same update, so the weights stay identical on
// every device and the losses match one device's up to float rounding
// (the order of the partial sums changes).

// batchAxis names the mesh axis the batch is split over.
const batchAxis = "batch"

// dataParallel is a Stepper's device mesh and the sharding of its inputs
// and outputs; nil for the plain single-device path.
type dataParallel struct {
	mesh       *distributed.DeviceMesh
	batch      *distributed.ShardingSpec // axis 0 over the mesh
	replicated *distributed.ShardingSpec
}

// CheckDevices says whether this process's backend can train data parallel
// over devices devices (StepperOptions.Devices, train.Options.Devices):
// only GoMLX's XLA backend implements AutoSharding, and it must see that
// many devices.
func CheckDevices(devices int) error {
	b, err := Backend()
	if err != nil {
		return err
	}
	return checkDevices(devices, b.Name(), BackendChoice().Display(), b.NumDevices())
}

func checkDevices(devices int, name, display string, have int) error {
	switch {
	case devices < 1:
		return fmt.Errorf("data parallel over %d devices: give 1 or more devices (0 trains on one device without a mesh)", devices)
	case name != xla.BackendName:
		return fmt.Errorf("data parallel needs the XLA backend with %d device(s) (GOPEFT_BACKEND=gpu or GOMLX_BACKEND=xla:cuda); this backend is %s: train on one device without a mesh (--devices 1, train.Options.Devices 1, StepperOptions.Devices 0)", devices, display)
	case devices > have:
		return fmt.Errorf("data parallel over %d devices: backend %s has %d device(s); ask for at most %d (Devices, --devices)", devices, display, have, have)
	}
	return nil
}

// newDataParallel builds the mesh of the first devices devices.
func newDataParallel(devices int) (*dataParallel, error) {
	if err := CheckDevices(devices); err != nil {
		return nil, err
	}
	mesh, err := distributed.NewDeviceMesh([]int{devices}, []string{batchAxis})
	if err != nil {
		return nil, err
	}
	batch, err := distributed.NewShardingSpec(mesh, distributed.AxisSpec{batchAxis})
	if err != nil {
		return nil, err
	}
	return &dataParallel{mesh: mesh, batch: batch, replicated: distributed.NewReplicatedShardingSpec(mesh)}, nil
}

// devices is the mesh's size (1 for the plain path).
func (p *dataParallel) devices() int {
	if p == nil {
		return 1
	}
	return p.mesh.NumDevices()
}

// configure makes e distributed: inputs split by batch, every output (the
// updated variables first, then the losses) replicated.
func (p *dataParallel) configure(e *context.Exec, inputs int) {
	specs := make([]*distributed.ShardingSpec, inputs)
	for i := range specs {
		specs[i] = p.batch
	}
	// GoMLX v0.26 assigns devices by default only to meshes of two or more,
	// and a mesh of one without an assignment fails to compile on PJRT ("no
	// device assignment given ... not portable"): assign the first N always.
	devices := make([]backends.DeviceNum, p.mesh.NumDevices())
	for i := range devices {
		devices[i] = backends.DeviceNum(i)
	}
	e.AutoSharding(p.mesh).WithDeviceAssignment(devices).WithInputShardingSpecs(specs...).WithOutputShardingSpecs(p.replicated)
}

// CheckBatchSplits refuses a batch of examples that does not split evenly
// over devices.
func CheckBatchSplits(examples, devices int) error {
	if n := max(1, devices); examples%n != 0 {
		return fmt.Errorf("a batch of %d examples does not split over %d devices: make the batch size a multiple of %d (train.Options.BatchSize, --batch)", examples, n, n)
	}
	return nil
}

// args splits the step's inputs for the devices: a mesh of one goes
// through the same distributed.Tensor path as a mesh of many.
func (p *dataParallel) args(inputs ...*tensors.Tensor) ([]any, error) {
	out := make([]any, len(inputs))
	for i, t := range inputs {
		if p == nil {
			out[i] = t
			continue
		}
		d, err := distributed.ShardTensor(p.batch, t)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}
