package safetensors_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gopeft/gopeft/peft/safetensors"
)

func ExampleWrite() {
	dir, _ := os.MkdirTemp("", "st")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "x.safetensors")
	f := &safetensors.File{Tensors: map[string]safetensors.Tensor{"w": safetensors.FromFloat32([]int{2, 2}, []float32{1, 2, 3, 4})}}
	if err := safetensors.Write(path, f); err != nil {
		panic(err)
	}
	back, err := safetensors.Read(path)
	if err != nil {
		panic(err)
	}
	v, _ := back.Tensors["w"].Float32s()
	fmt.Println(back.Tensors["w"].DType, back.Tensors["w"].Shape, v)
	// Output: F32 [2 2] [1 2 3 4]
}
