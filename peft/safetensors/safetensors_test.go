package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/x448/float16"
)

// goldenHex is produced by testdata/golden.py, which builds the file by hand
// from the format spec with Python's struct and json modules.
const goldenHex = "00010000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c2261223a7b226474797065223a22493634222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c31365d7d2c2262223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b31362c32345d7d2c227a223a7b226474797065223a2242463136222c227368617065223a5b325d2c22646174615f6f666673657473223a5b32342c32385d7d2c2268223a7b226474797065223a22463136222c227368617065223a5b315d2c22646174615f6f666673657473223a5b32382c33305d7d7d202020200100000000000000ffffffffffffffff0000803f000000c0803f40c0003c"

func goldenFile() *File {
	bf := make([]byte, 4)
	binary.LittleEndian.PutUint16(bf, 0x3f80)
	binary.LittleEndian.PutUint16(bf[2:], 0xc040)
	return &File{
		Metadata: map[string]string{"format": "pt"},
		Tensors: map[string]Tensor{
			"b": FromFloat32([]int{2}, []float32{1, -2}),
			"a": FromInt64([]int{2}, []int64{1, -1}),
			"z": {DType: "BF16", Shape: []int{2}, Data: bf},
			"h": {DType: "F16", Shape: []int{1}, Data: []byte{0x00, 0x3c}},
		},
	}
}

func TestGoldenBytes(t *testing.T) {
	want, _ := hex.DecodeString(goldenHex)
	got, err := Marshal(goldenFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ from the reference layout\n got %q\nwant %q", got, want)
	}
	f, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	z, _ := f.Tensors["z"].Float32s()
	h, _ := f.Tensors["h"].Float32s()
	a, _ := f.Tensors["a"].Int64s()
	if !reflect.DeepEqual(z, []float32{1, -3}) || !reflect.DeepEqual(h, []float32{1}) || !reflect.DeepEqual(a, []int64{1, -1}) {
		t.Fatalf("decoded z=%v h=%v a=%v", z, h, a)
	}
}

// Empty file with no metadata: the reference writes "{}" padded to 8 bytes.
func TestEmptyFile(t *testing.T) {
	got, err := Marshal(&File{})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, []byte("{}      ")...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	f, err := Parse(got)
	if err != nil || len(f.Tensors) != 0 {
		t.Fatalf("parse empty: %v %v", f, err)
	}
}

func TestRoundTripAllDTypes(t *testing.T) {
	dir := t.TempDir()
	in := &File{Metadata: map[string]string{"format": "pt", "note": "<&>"}, Tensors: map[string]Tensor{}}
	for dt, info := range dtypeInfo {
		shape := []int{2, 3}
		data := make([]byte, 6*info.size)
		for i := range data {
			data[i] = byte(i*7 + info.rank)
		}
		in.Tensors["t."+dt] = Tensor{DType: dt, Shape: shape, Data: data}
	}
	in.Tensors["scalar"] = FromFloat32(nil, []float32{3.5})
	in.Tensors["empty"] = Tensor{DType: "F32", Shape: []int{0, 4}, Data: []byte{}}
	p := filepath.Join(dir, "m.safetensors")
	if err := Write(p, in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.Metadata, in.Metadata) {
		t.Fatalf("metadata %v != %v", out.Metadata, in.Metadata)
	}
	if len(out.Tensors) != len(in.Tensors) {
		t.Fatalf("%d tensors, want %d", len(out.Tensors), len(in.Tensors))
	}
	for name, want := range in.Tensors {
		got := out.Tensors[name]
		if got.DType != want.DType || !reflect.DeepEqual(got.Shape, nonNil(want.Shape)) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: got %+v want %+v", name, got, want)
		}
	}
	h, err := ReadHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Names) != len(in.Tensors) || h.Tensors["t.F16"].DType != "F16" || h.DataStart%8 != 0 {
		t.Fatalf("header %+v", h)
	}
	// Every tensor's data is aligned to its element size.
	for name, info := range h.Tensors {
		if info.Offsets[0]%int64(dtypeInfo[info.DType].size) != 0 {
			t.Errorf("%s misaligned at %d", name, info.Offsets[0])
		}
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("dir has %d entries", len(entries))
	}
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

func TestHalfConversionsExact(t *testing.T) {
	// Values exactly representable in both f16 and bf16.
	vals := []float32{0, 1, -1, 0.5, -2.25, 3, 1024, -0.125, float32(math.Inf(1)), float32(math.Inf(-1))}
	src := FromFloat32([]int{len(vals)}, vals)
	for _, dt := range []string{"F16", "BF16", "F64", "F32"} {
		c, err := src.Convert(dt)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, vals) {
			t.Errorf("%s: %v != %v", dt, back, vals)
		}
	}
	// Bit patterns from the IEEE/bfloat16 definitions.
	bf, _ := src.Convert("BF16")
	if got := binary.LittleEndian.Uint16(bf.Data[2:]); got != 0x3f80 {
		t.Errorf("bf16(1) = %#x", got)
	}
	hf, _ := src.Convert("F16")
	if got := binary.LittleEndian.Uint16(hf.Data[2:]); got != 0x3c00 {
		t.Errorf("f16(1) = %#x", got)
	}
	// Round to nearest even for bf16: 1+2^-8 is a tie -> 1; 1+3*2^-8 -> 1+2^-6.
	if Float32ToBF16(1+1.0/256) != 0x3f80 || Float32ToBF16(1+3.0/256) != 0x3f82 {
		t.Errorf("bf16 rounding: %#x %#x", Float32ToBF16(1+1.0/256), Float32ToBF16(1+3.0/256))
	}
	if v := Float32ToBF16(float32(math.NaN())); v&0x7f80 != 0x7f80 || v&0x7f == 0 {
		t.Errorf("bf16 NaN = %#x", v)
	}
	if _, err := FromInt64([]int{1}, []int64{1}).Float32s(); err == nil {
		t.Error("Float32s on I64 should fail")
	}
}

func TestGoMLX(t *testing.T) {
	f32 := FromFloat32([]int{2, 2}, []float32{1, 2, 3, 4})
	bf, _ := f32.Convert("BF16")
	hf, _ := f32.Convert("F16")
	i32 := FromInt32([]int{3}, []int32{-1, 0, 7})
	i64 := FromInt64([]int{3}, []int64{-1, 0, 1 << 40})
	for _, st := range []Tensor{f32, bf, hf, i32, i64} {
		gt, err := st.ToGoMLX()
		if err != nil {
			t.Fatal(err)
		}
		if gt.DType() != toGoMLX[st.DType] {
			t.Errorf("%s -> %s", st.DType, gt.DType())
		}
		back, err := FromGoMLX(gt)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, st) {
			t.Errorf("round trip %s: %+v != %+v", st.DType, back, st)
		}
	}
	gt, _ := bf.ToGoMLX()
	tensors.MustConstFlatData(gt, func(v []bfloat16.BFloat16) {
		if v[3].Float32() != 4 {
			t.Errorf("bf16 value %v", v[3])
		}
	})
	gh, _ := hf.ToGoMLX()
	tensors.MustConstFlatData(gh, func(v []float16.Float16) {
		if v[2].Float32() != 3 {
			t.Errorf("f16 value %v", v[2])
		}
	})
	g := tensors.FromFlatDataAndDimensions([]float32{5, 6}, 1, 2)
	st, err := FromGoMLX(g)
	if err != nil || st.DType != "F32" || !reflect.DeepEqual(st.Shape, []int{1, 2}) {
		t.Fatalf("%+v %v", st, err)
	}
	if gt.Shape().DType != dtypes.BFloat16 {
		t.Fatal("dtype")
	}
}

func TestRejectsCorrupt(t *testing.T) {
	good, _ := hex.DecodeString(goldenHex)
	hdrLen := int(binary.LittleEndian.Uint64(good))
	replace := func(old, new string) []byte {
		b := bytes.Replace(good, []byte(old), []byte(new), 1)
		if len(old) != len(new) {
			panic("keep length")
		}
		return b
	}
	withLen := func(n uint64) []byte {
		b := append([]byte{}, good...)
		binary.LittleEndian.PutUint64(b, n)
		return b
	}
	cases := []struct {
		name string
		buf  []byte
		want string
	}{
		{"short", good[:5], "shorter than the 8-byte"},
		{"huge header", withLen(1 << 40), "exceeds"},
		{"header past end", withLen(uint64(len(good))), "truncated"},
		{"truncated data", good[:len(good)-1], "truncated"},
		{"trailing bytes", append(append([]byte{}, good...), 0), "trailing"},
		{"not json", append(withLen(8)[:8], []byte("garbage!")...), "not a JSON object"},
		{"bad json", append(withLen(8)[:8], []byte("{\"a\":1  ")...), "valid JSON"},
		{"unknown dtype", replace(`"F32"`, `"Q32"`), `tensor "b": safetensors: unsupported dtype "Q32"`},
		{"shape mismatch", replace(`"shape":[2],"data_offsets":[16`, `"shape":[3],"data_offsets":[16`), `tensor "b": shape [3] of F32 needs 12 bytes`},
		{"gap", replace(`[16,24]`, `[17,24]`), `tensor "b"`},
		{"negative dim", replace(`"shape":[1]`, `"shape":[-]`), "valid JSON"},
	}
	_ = hdrLen
	for _, c := range cases {
		_, err := Parse(c.buf)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
	// Read and ReadHeader name the file.
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(p, good[:len(good)-3], 0o644)
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("Read: %v", err)
	}
	if _, err := ReadHeader(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadHeader: %v", err)
	}
	// Writing refuses inconsistent tensors, naming them.
	err := Write(filepath.Join(dir, "x.safetensors"), &File{Tensors: map[string]Tensor{"w": {DType: "F32", Shape: []int{3}, Data: make([]byte, 8)}}})
	if err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("Write: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := hex.DecodeString(goldenHex)
	f.Add(good)
	empty, _ := Marshal(&File{})
	f.Add(empty)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse(b)
		if err != nil {
			return
		}
		// Anything accepted must re-encode and parse to the same tensors.
		out, err := Marshal(file)
		if err != nil {
			t.Fatalf("accepted file does not re-marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-marshalled file rejected: %v", err)
		}
		for name, tt := range file.Tensors {
			if !bytes.Equal(again.Tensors[name].Data, tt.Data) {
				t.Fatalf("tensor %q changed", name)
			}
		}
	})
}
