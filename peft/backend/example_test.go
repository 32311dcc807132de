package backend_test

import (
	"fmt"

	"github.com/gopeft/gopeft/peft/backend"
)

// New picks the backend and says why; GOPEFT_BACKEND=go forces the pure-Go one.
func ExampleNew() {
	b, choice, err := backend.New()
	if err != nil {
		panic(err)
	}
	defer b.Finalize()
	fmt.Println(choice.Display() != "")
	// Output: true
}
