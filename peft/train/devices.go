package train

import (
	"fmt"

	"github.com/gopeft/gopeft/peft"
)

// Options.Devices trains data parallel: each step's batch of BatchSize
// examples is split across the backend's first Devices devices, the
// weights are replicated and XLA all-reduces the gradients (peft's
// dataparallel.go). A step computes the same mean loss and update as on
// one device, so the run is the same run up to float rounding: Devices is
// left out of the run store's configuration hash, and a run trained on two
// GPUs is found again on one.

// DataParallelDevices is how many devices a step is split over: 0 for one
// device (Devices 0 or 1), which keeps the single-device graph, no mesh.
func (o Options) DataParallelDevices() int {
	if o.Devices <= 1 {
		return 0
	}
	return o.Devices
}

// checkDevices refuses a device count the backend or the batch size cannot
// take, before the model is built.
func (o Options) checkDevices() error {
	switch {
	case o.Devices < 0:
		return fmt.Errorf("Options.Devices is %d: give 0 or 1 (one device) or the number of devices to train on", o.Devices)
	case o.Devices <= 1:
		return nil
	}
	if err := peft.CheckBatchSplits(o.BatchSize, o.Devices); err != nil {
		return err
	}
	return peft.CheckDevices(o.Devices)
}
