package blas

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Name is the backend's registered name (GOMLX_BACKEND=blas).
const Name = "blas"

func init() { backends.Register(Name, New) }

// InstallHelp is the fix to show when OpenBLAS is missing.
const InstallHelp = "apt-get install libopenblas0"

// New creates the backend. The config string takes no options; it fails when
// OpenBLAS cannot be loaded.
func New(config string) (backends.Backend, error) {
	if config != "" {
		return nil, fmt.Errorf("backend %q takes no options, got %q", Name, config)
	}
	if !available() {
		return nil, fmt.Errorf("backend %q needs OpenBLAS: %s; %s, or use GOMLX_BACKEND=go", Name, libraryInfo(), InstallHelp)
	}
	return &Backend{workers: runtime.GOMAXPROCS(0), pool: newPool()}, nil
}

// Backend implements backends.Backend on the CPU (one device).
type Backend struct {
	workers   int
	pool      *pool
	finalized bool
}

var _ backends.Backend = (*Backend)(nil)

func (b *Backend) Name() string   { return Name }
func (b *Backend) String() string { return Name }
func (b *Backend) Description() string {
	return fmt.Sprintf("GoPEFT CPU backend (%s; %d workers)", libraryInfo(), b.workers)
}
func (b *Backend) NumDevices() int { return 1 }
func (b *Backend) DeviceDescription(backends.DeviceNum) string {
	return fmt.Sprintf("CPU (%d workers)", b.workers)
}
func (b *Backend) Finalize()         { b.finalized = true }
func (b *Backend) IsFinalized() bool { return b.finalized }

// Capabilities lists the ops this backend implements and the dtypes it
// stores.
func (b *Backend) Capabilities() backends.Capabilities {
	c := backends.Capabilities{Operations: map[backends.OpType]bool{}, DTypes: map[dtypes.DType]bool{}}
	for op := range implementedOps {
		c.Operations[op] = true
	}
	for _, dt := range storedDTypes {
		c.DTypes[dt] = true
	}
	return c
}

// storedDTypes are the dtypes buffers can hold; ops are narrower (see each).
var storedDTypes = []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.Int8, dtypes.Int16, dtypes.Int32, dtypes.Int64,
	dtypes.Uint8, dtypes.Uint16, dtypes.Uint32, dtypes.Uint64, dtypes.Bool}

func storable(dt dtypes.DType) bool {
	for _, d := range storedDTypes {
		if d == dt {
			return true
		}
	}
	return false
}

// Buffer is a tensor in host memory: flat is a []T of the shape's size.
type Buffer struct {
	shape shapes.Shape
	flat  any
}

func (b *Backend) buffer(x backends.Buffer) (*Buffer, error) {
	buf, ok := x.(*Buffer)
	if !ok || buf == nil {
		return nil, fmt.Errorf("backend %q: not one of its buffers: %T", Name, x)
	}
	if buf.flat == nil {
		return nil, fmt.Errorf("backend %q: buffer used after it was finalized", Name)
	}
	return buf, nil
}

func (b *Backend) BufferFinalize(x backends.Buffer) error {
	if buf, ok := x.(*Buffer); ok && buf != nil && buf.flat == nil {
		return nil // already finalized, or donated to an Execute
	}
	buf, err := b.buffer(x)
	if err != nil {
		return err
	}
	b.pool.put(buf.shape.DType, buf.flat)
	buf.flat = nil
	return nil
}

func (b *Backend) BufferShape(x backends.Buffer) (shapes.Shape, error) {
	buf, err := b.buffer(x)
	if err != nil {
		return shapes.Invalid(), err
	}
	return buf.shape, nil
}

func (b *Backend) BufferDeviceNum(x backends.Buffer) (backends.DeviceNum, error) {
	_, err := b.buffer(x)
	return 0, err
}

func (b *Backend) BufferToFlatData(x backends.Buffer, flat any) error {
	buf, err := b.buffer(x)
	if err != nil {
		return err
	}
	dst, src := reflect.ValueOf(flat), reflect.ValueOf(buf.flat)
	if dst.Kind() != reflect.Slice || dst.Type() != src.Type() || dst.Len() != src.Len() {
		return fmt.Errorf("backend %q: BufferToFlatData of %s into %T of length %d", Name, buf.shape, flat, reflect.ValueOf(flat).Len())
	}
	reflect.Copy(dst, src)
	return nil
}

func (b *Backend) BufferFromFlatData(dev backends.DeviceNum, flat any, shape shapes.Shape) (backends.Buffer, error) {
	if dev != 0 {
		return nil, fmt.Errorf("backend %q has one device, got device %d", Name, dev)
	}
	if !storable(shape.DType) {
		return nil, fmt.Errorf("dtype %s %s", shape.DType, notImplementedSuffix)
	}
	src := reflect.ValueOf(flat)
	if src.Kind() != reflect.Slice || src.Type().Elem() != shape.DType.GoType() || src.Len() != shape.Size() {
		return nil, fmt.Errorf("backend %q: BufferFromFlatData got %T of length %d for shape %s", Name, flat, src.Len(), shape)
	}
	buf := &Buffer{shape: shape.Clone(), flat: b.pool.get(shape.DType, shape.Size())}
	reflect.Copy(reflect.ValueOf(buf.flat), src)
	return buf, nil
}

func (b *Backend) HasSharedBuffers() bool { return true }

func (b *Backend) NewSharedBuffer(dev backends.DeviceNum, shape shapes.Shape) (backends.Buffer, any, error) {
	if dev != 0 {
		return nil, nil, fmt.Errorf("backend %q has one device, got device %d", Name, dev)
	}
	if !storable(shape.DType) {
		return nil, nil, fmt.Errorf("dtype %s %s", shape.DType, notImplementedSuffix)
	}
	buf := &Buffer{shape: shape.Clone(), flat: b.pool.get(shape.DType, shape.Size())}
	return buf, buf.flat, nil
}

func (b *Backend) BufferData(x backends.Buffer) (any, error) {
	buf, err := b.buffer(x)
	if err != nil {
		return nil, err
	}
	return buf.flat, nil
}

func (b *Backend) BufferCopyToDevice(x backends.Buffer, dev backends.DeviceNum) (backends.Buffer, error) {
	buf, err := b.buffer(x)
	if err != nil {
		return nil, err
	}
	return b.BufferFromFlatData(dev, buf.flat, buf.shape)
}

// pool keeps released flat slices by dtype and length, so a training loop
// that runs the same executable again allocates nothing after its first step.
type pool struct {
	mu    sync.Mutex
	free  map[poolKey][]any
	bytes int // held in free
}

type poolKey struct {
	dt dtypes.DType
	n  int
}

func newPool() *pool { return &pool{free: map[poolKey][]any{}} }

// maxPooled bounds how many slices of one key are kept, maxPooledBytes all
// of them (a class machine has about 2 GB; a step of the shipped encoder
// cycles through about 100 MB).
const (
	maxPooled      = 32
	maxPooledBytes = 512 << 20
)

// get returns a slice of length n; its contents are unspecified.
func (p *pool) get(dt dtypes.DType, n int) any {
	k := poolKey{dt, n}
	p.mu.Lock()
	if l := p.free[k]; len(l) > 0 {
		s := l[len(l)-1]
		l[len(l)-1] = nil
		p.free[k] = l[:len(l)-1]
		p.bytes -= n * dt.Size()
		p.mu.Unlock()
		return s
	}
	p.mu.Unlock()
	return makeFlat(dt, n)
}

func (p *pool) put(dt dtypes.DType, flat any) {
	if flat == nil {
		return
	}
	k := poolKey{dt, reflect.ValueOf(flat).Len()}
	size := k.n * dt.Size()
	p.mu.Lock()
	if len(p.free[k]) < maxPooled && p.bytes+size <= maxPooledBytes {
		p.free[k] = append(p.free[k], flat)
		p.bytes += size
	}
	p.mu.Unlock()
}

func makeFlat(dt dtypes.DType, n int) any {
	switch dt {
	case dtypes.Float32:
		return make([]float32, n)
	case dtypes.Float64:
		return make([]float64, n)
	case dtypes.Int32:
		return make([]int32, n)
	case dtypes.Int64:
		return make([]int64, n)
	case dtypes.Bool:
		return make([]bool, n)
	case dtypes.Uint32:
		return make([]uint32, n)
	case dtypes.Uint64:
		return make([]uint64, n)
	case dtypes.Uint8:
		return make([]uint8, n)
	}
	return reflect.MakeSlice(reflect.SliceOf(dt.GoType()), n, n).Interface()
}
