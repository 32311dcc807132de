// Package safetensors reads and writes the Hugging Face safetensors format:
// an 8-byte little-endian header length N, N bytes of JSON describing each
// tensor (dtype, shape, data_offsets into the data section) plus an optional
// "__metadata__" string map, then the raw little-endian tensor data.
//
//	f, err := safetensors.Read("model.safetensors")
//	x := f.Tensors["embeddings.word_embeddings.weight"] // dtype, shape, raw bytes
//	err = safetensors.Write("copy.safetensors", f)      // the same bytes as Hugging Face writes
//
// Write produces the same bytes as the reference implementation: tensors laid
// out by descending dtype alignment then name, compact JSON with
// "__metadata__" first, and the header padded with spaces to 8 bytes.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/gopeft/gopeft/internal/atomicfile"
)

// MaxHeaderSize bounds the JSON header, as the reference reader does (100 MB),
// so a corrupt length cannot make us allocate gigabytes.
const MaxHeaderSize = 100_000_000

// dtypeInfo gives each supported dtype its element size and its rank in the
// reference implementation's dtype ordering (used for the on-disk layout).
var dtypeInfo = map[string]struct{ size, rank int }{
	"BOOL": {1, 0},
	"U8":   {1, 1},
	"I8":   {1, 2},
	"I16":  {2, 5},
	"U16":  {2, 6},
	"F16":  {2, 7},
	"BF16": {2, 8},
	"I32":  {4, 9},
	"U32":  {4, 10},
	"F32":  {4, 11},
	"F64":  {8, 12},
	"I64":  {8, 13},
	"U64":  {8, 14},
}

// DTypeSize returns the size in bytes of one element of dtype ("F32", "BF16", ...).
func DTypeSize(dtype string) (int, error) {
	d, ok := dtypeInfo[dtype]
	if !ok {
		return 0, dtypeError(dtype)
	}
	return d.size, nil
}

// dtypeError is a dtype this package cannot read; a file holding one is
// not damaged, so readers suggest converting it rather than re-downloading.
type dtypeError string

func (e dtypeError) Error() string {
	return fmt.Sprintf("safetensors: unsupported dtype %q (supported: %s)", string(e), supportedDTypes())
}

// readError names the file and the fix for a file that does not parse.
func readError(path string, err error) error {
	var de dtypeError
	if errors.As(err, &de) {
		return fmt.Errorf("safetensors: %s: %w: save the tensor in one of those dtypes (PyTorch: .float())", path, err)
	}
	return fmt.Errorf("safetensors: %s: %w; the file is damaged or not safetensors: download or save it again", path, err)
}

func supportedDTypes() string {
	names := make([]string, 0, len(dtypeInfo))
	for k := range dtypeInfo {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Tensor is one tensor: its safetensors dtype name, its shape (row-major) and
// its raw little-endian bytes.
type Tensor struct {
	DType string
	Shape []int
	Data  []byte
}

// NumElements is the product of the shape (1 for a scalar).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Validate checks that the dtype is known, dimensions are non-negative and
// the byte length matches shape and dtype.
func (t Tensor) Validate() error {
	size, err := DTypeSize(t.DType)
	if err != nil {
		return err
	}
	n, ok := checkedElements(t.Shape)
	if !ok {
		return fmt.Errorf("invalid shape %v (negative or overflowing dimensions)", t.Shape)
	}
	if n > math.MaxInt/size || n*size != len(t.Data) {
		return fmt.Errorf("shape %v of %s needs %d bytes, have %d", t.Shape, t.DType, n*size, len(t.Data))
	}
	return nil
}

func checkedElements(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// File is the whole content of a safetensors file.
type File struct {
	Metadata map[string]string
	Tensors  map[string]Tensor
}

// TensorInfo describes one tensor in a header, without its data.
type TensorInfo struct {
	DType string
	Shape []int
	// Offsets are [begin, end) byte offsets relative to the start of the data section.
	Offsets [2]int64
}

// Header is a parsed safetensors header.
type Header struct {
	Metadata map[string]string
	Tensors  map[string]TensorInfo
	// Names lists the tensors in data order (by offset).
	Names []string
	// DataStart is the file offset of the data section (8 + header length).
	DataStart int64
}

type jsonInfo struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// parseHeader validates and decodes the JSON header; dataLen is the size of
// the data section, which the tensors must cover exactly.
func parseHeader(raw []byte, dataLen int64) (*Header, error) {
	trimmed := bytes.TrimRight(raw, " ")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("header is not a JSON object (file is not safetensors, or is corrupt)")
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &entries); err != nil {
		return nil, fmt.Errorf("header is not valid JSON: %v", err)
	}
	h := &Header{Tensors: make(map[string]TensorInfo, len(entries))}
	for name, msg := range entries {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &h.Metadata); err != nil {
				return nil, fmt.Errorf("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		var ji jsonInfo
		if err := json.Unmarshal(msg, &ji); err != nil {
			return nil, fmt.Errorf("tensor %q: bad header entry: %v", name, err)
		}
		size, err := DTypeSize(ji.DType)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		if len(ji.DataOffsets) != 2 {
			return nil, fmt.Errorf("tensor %q: data_offsets must have 2 entries, has %d", name, len(ji.DataOffsets))
		}
		shape := make([]int, len(ji.Shape))
		for i, d := range ji.Shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, fmt.Errorf("tensor %q: invalid dimension %d in shape %v", name, d, ji.Shape)
			}
			shape[i] = int(d)
		}
		n, ok := checkedElements(shape)
		if !ok || n > math.MaxInt64/size {
			return nil, fmt.Errorf("tensor %q: shape %v overflows", name, ji.Shape)
		}
		b, e := ji.DataOffsets[0], ji.DataOffsets[1]
		if b < 0 || e < b || e > dataLen {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] outside the %d-byte data section (file truncated?)", name, b, e, dataLen)
		}
		if int64(n)*int64(size) != e-b {
			return nil, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes but data_offsets span %d", name, shape, ji.DType, int64(n)*int64(size), e-b)
		}
		h.Tensors[name] = TensorInfo{DType: ji.DType, Shape: shape, Offsets: [2]int64{b, e}}
		h.Names = append(h.Names, name)
	}
	sort.Slice(h.Names, func(i, j int) bool {
		a, b := h.Tensors[h.Names[i]].Offsets, h.Tensors[h.Names[j]].Offsets
		if a != b {
			return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1])
		}
		return h.Names[i] < h.Names[j]
	})
	// Tensors must tile the data section with no gaps or overlaps.
	var pos int64
	for _, name := range h.Names {
		off := h.Tensors[name].Offsets
		if off[0] != pos {
			return nil, fmt.Errorf("tensor %q: data starts at %d, expected %d (overlapping or non-contiguous offsets)", name, off[0], pos)
		}
		pos = off[1]
	}
	if pos != dataLen {
		return nil, fmt.Errorf("data section is %d bytes but tensors cover %d (truncated or trailing bytes)", dataLen, pos)
	}
	return h, nil
}

func headerLength(prefix []byte, fileLen int64) (int64, error) {
	if fileLen < 8 {
		return 0, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length (truncated or not safetensors)", fileLen)
	}
	n := binary.LittleEndian.Uint64(prefix[:8])
	if n > MaxHeaderSize {
		return 0, fmt.Errorf("header length %d exceeds %d bytes (corrupt, or not a safetensors file)", n, MaxHeaderSize)
	}
	if int64(n) > fileLen-8 {
		return 0, fmt.Errorf("header length %d exceeds the %d bytes after the length prefix (truncated)", n, fileLen-8)
	}
	return int64(n), nil
}

// Parse decodes a whole safetensors file held in memory. The tensors' Data
// slices alias buf.
func Parse(buf []byte) (*File, error) {
	n, err := headerLength(buf, int64(len(buf)))
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(buf[8:8+n], int64(len(buf))-8-n)
	if err != nil {
		return nil, err
	}
	data := buf[8+n:]
	f := &File{Metadata: h.Metadata, Tensors: make(map[string]Tensor, len(h.Tensors))}
	for name, info := range h.Tensors {
		b, e := info.Offsets[0], info.Offsets[1]
		f.Tensors[name] = Tensor{DType: info.DType, Shape: info.Shape, Data: data[b:e:e]}
	}
	return f, nil
}

// Read loads and validates a safetensors file. Errors name the file and,
// where one is at fault, the tensor.
func Read(path string) (*File, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Parse(buf)
	if err != nil {
		return nil, readError(path, err)
	}
	return f, nil
}

// ReadHeader reads only the header of a safetensors file: names, dtypes and
// shapes, without loading the tensor data.
func ReadHeader(path string) (*Header, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	wrap := func(err error) error { return readError(path, err) }
	var prefix [8]byte
	if _, err := io.ReadFull(fh, prefix[:]); err != nil && st.Size() >= 8 {
		return nil, wrap(err)
	}
	n, err := headerLength(prefix[:], st.Size())
	if err != nil {
		return nil, wrap(err)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(fh, raw); err != nil {
		return nil, wrap(err)
	}
	h, err := parseHeader(raw, st.Size()-8-n)
	if err != nil {
		return nil, wrap(err)
	}
	h.DataStart = 8 + n
	return h, nil
}

// Marshal encodes f in the exact byte layout the reference implementation
// writes.
func Marshal(f *File) ([]byte, error) {
	names := make([]string, 0, len(f.Tensors))
	for name, t := range f.Tensors {
		if name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: a tensor cannot be named __metadata__")
		}
		if err := t.Validate(); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		names = append(names, name)
	}
	// Larger-alignment dtypes first, then by name, so every tensor's data is
	// aligned to its element size in the file (header is padded to 8).
	sort.Slice(names, func(i, j int) bool {
		ri, rj := dtypeInfo[f.Tensors[names[i]].DType].rank, dtypeInfo[f.Tensors[names[j]].DType].rank
		if ri != rj {
			return ri > rj
		}
		return names[i] < names[j]
	})

	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
	}
	if f.Metadata != nil {
		sep()
		hdr.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			writeJSONString(&hdr, k)
			hdr.WriteByte(':')
			writeJSONString(&hdr, f.Metadata[k])
		}
		hdr.WriteByte('}')
	}
	var offset int64
	for _, name := range names {
		t := f.Tensors[name]
		sep()
		writeJSONString(&hdr, name)
		fmt.Fprintf(&hdr, `:{"dtype":"%s","shape":[`, t.DType)
		for i, d := range t.Shape {
			if i > 0 {
				hdr.WriteByte(',')
			}
			fmt.Fprintf(&hdr, "%d", d)
		}
		end := offset + int64(len(t.Data))
		fmt.Fprintf(&hdr, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}

	out := make([]byte, 8, 8+hdr.Len()+int(offset))
	binary.LittleEndian.PutUint64(out, uint64(hdr.Len()))
	out = append(out, hdr.Bytes()...)
	for _, name := range names {
		out = append(out, f.Tensors[name].Data...)
	}
	return out, nil
}

// writeJSONString writes s as a JSON string without HTML escaping, matching
// serde_json's output.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // strings always encode
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

// Write stores f at path atomically: it writes a temporary file in the same
// directory, syncs it, and renames it over path.
func Write(path string, f *File) error {
	buf, err := Marshal(f)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf, 0o644)
}
