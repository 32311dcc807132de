package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/x448/float16"
)

// Float32s decodes a floating-point tensor to float32. F16 and BF16 widen
// exactly; F64 is rounded to the nearest float32.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	n := t.NumElements()
	out := make([]float32, n)
	d := t.Data
	switch t.DType {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(d[2*i:])).Float32()
		}
	case "BF16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	default:
		return nil, fmt.Errorf("safetensors: Float32s on a %s tensor; use Int64s for integer dtypes", t.DType)
	}
	return out, nil
}

// Int64s decodes an integer or BOOL tensor to int64.
func (t Tensor) Int64s() ([]int64, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	out := make([]int64, t.NumElements())
	d := t.Data
	for i := range out {
		switch t.DType {
		case "I64":
			out[i] = int64(binary.LittleEndian.Uint64(d[8*i:]))
		case "U64":
			u := binary.LittleEndian.Uint64(d[8*i:])
			if u > math.MaxInt64 {
				return nil, fmt.Errorf("safetensors: U64 value %d at %d does not fit int64", u, i)
			}
			out[i] = int64(u)
		case "I32":
			out[i] = int64(int32(binary.LittleEndian.Uint32(d[4*i:])))
		case "U32":
			out[i] = int64(binary.LittleEndian.Uint32(d[4*i:]))
		case "I16":
			out[i] = int64(int16(binary.LittleEndian.Uint16(d[2*i:])))
		case "U16":
			out[i] = int64(binary.LittleEndian.Uint16(d[2*i:]))
		case "I8":
			out[i] = int64(int8(d[i]))
		case "U8", "BOOL":
			out[i] = int64(d[i])
		default:
			return nil, fmt.Errorf("safetensors: Int64s on a %s tensor; use Float32s for floating-point dtypes", t.DType)
		}
	}
	return out, nil
}

// FromFloat32 builds an F32 tensor. It panics if len(v) does not match shape,
// which is a programming error.
func FromFloat32(shape []int, v []float32) Tensor {
	checkLen(shape, len(v))
	d := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(d[4*i:], math.Float32bits(x))
	}
	return Tensor{DType: "F32", Shape: append([]int{}, shape...), Data: d}
}

// FromInt64 builds an I64 tensor (panics if len(v) does not match shape).
func FromInt64(shape []int, v []int64) Tensor {
	checkLen(shape, len(v))
	d := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(d[8*i:], uint64(x))
	}
	return Tensor{DType: "I64", Shape: append([]int{}, shape...), Data: d}
}

// FromInt32 builds an I32 tensor (panics if len(v) does not match shape).
func FromInt32(shape []int, v []int32) Tensor {
	checkLen(shape, len(v))
	d := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(d[4*i:], uint32(x))
	}
	return Tensor{DType: "I32", Shape: append([]int{}, shape...), Data: d}
}

func checkLen(shape []int, n int) {
	if want, ok := checkedElements(shape); !ok || want != n {
		panic(fmt.Sprintf("safetensors: shape %v does not hold %d values", shape, n))
	}
}

// Float32ToBF16 rounds to the nearest bfloat16, ties to even (as PyTorch does);
// NaN stays NaN.
func Float32ToBF16(x float32) uint16 {
	b := math.Float32bits(x)
	if x != x {
		return uint16(b>>16) | 0x40 // keep sign, force a quiet NaN
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// Convert returns the tensor in another floating-point dtype (F32, F16, BF16,
// F64), rounding to nearest-even when narrowing. Same dtype returns t itself.
func (t Tensor) Convert(dtype string) (Tensor, error) {
	if dtype == t.DType {
		return t, nil
	}
	v, err := t.Float32s()
	if err != nil {
		return Tensor{}, err
	}
	shape := append([]int{}, t.Shape...)
	switch dtype {
	case "F32":
		return FromFloat32(shape, v), nil
	case "F16", "BF16":
		d := make([]byte, 2*len(v))
		for i, x := range v {
			var bits uint16
			if dtype == "F16" {
				bits = float16.Fromfloat32(x).Bits()
			} else {
				bits = Float32ToBF16(x)
			}
			binary.LittleEndian.PutUint16(d[2*i:], bits)
		}
		return Tensor{DType: dtype, Shape: shape, Data: d}, nil
	case "F64":
		if t.DType == "F64" {
			return t, nil
		}
		d := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(d[8*i:], math.Float64bits(float64(x)))
		}
		return Tensor{DType: dtype, Shape: shape, Data: d}, nil
	}
	return Tensor{}, fmt.Errorf("safetensors: cannot convert %s to %s; Convert handles F32, F16, BF16 and F64", t.DType, dtype)
}

var toGoMLX = map[string]dtypes.DType{
	"BOOL": dtypes.Bool, "U8": dtypes.Uint8, "I8": dtypes.Int8,
	"I16": dtypes.Int16, "U16": dtypes.Uint16, "F16": dtypes.Float16,
	"BF16": dtypes.BFloat16, "I32": dtypes.Int32, "U32": dtypes.Uint32,
	"F32": dtypes.Float32, "F64": dtypes.Float64, "I64": dtypes.Int64,
	"U64": dtypes.Uint64,
}

// hostLittleEndian: GoMLX tensors hold native-endian data; safetensors is
// little-endian, so raw copies are only valid on little-endian hosts.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// ToGoMLX copies the tensor into a GoMLX tensor of the same dtype
// (F16 as x448/float16, BF16 as gomlx's dtypes/bfloat16).
func (t Tensor) ToGoMLX() (*tensors.Tensor, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	dt, ok := toGoMLX[t.DType]
	if !ok {
		return nil, fmt.Errorf("safetensors: no GoMLX dtype for %s", t.DType)
	}
	if !hostLittleEndian {
		return nil, fmt.Errorf("safetensors: ToGoMLX needs a little-endian host")
	}
	gt := tensors.FromShape(shapes.Make(dt, t.Shape...))
	if len(t.Data) == 0 {
		return gt, nil
	}
	if err := gt.MutableBytes(func(b []byte) { copy(b, t.Data) }); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return gt, nil
}

// FromGoMLX copies a GoMLX tensor (fetching it from the device if needed).
func FromGoMLX(gt *tensors.Tensor) (Tensor, error) {
	if gt == nil {
		return Tensor{}, fmt.Errorf("safetensors: FromGoMLX of a nil tensor")
	}
	dt := gt.DType()
	name := ""
	for k, v := range toGoMLX {
		if v == dt {
			name = k
		}
	}
	if name == "" {
		return Tensor{}, fmt.Errorf("safetensors: GoMLX dtype %s has no safetensors equivalent", dt)
	}
	if !hostLittleEndian {
		return Tensor{}, fmt.Errorf("safetensors: FromGoMLX needs a little-endian host")
	}
	t := Tensor{DType: name, Shape: append([]int{}, gt.Shape().Dimensions...)}
	if gt.Size() == 0 {
		t.Data = []byte{}
		return t, nil
	}
	err := gt.ConstBytes(func(b []byte) { t.Data = append([]byte{}, b...) })
	if err != nil {
		return Tensor{}, fmt.Errorf("safetensors: %w", err)
	}
	return t, nil
}
