package notebook_test

import (
	"fmt"

	"github.com/gopeft/gopeft/peft"
	"github.com/gopeft/gopeft/widgets/notebook"
)

// Where IA3 on the query projection sits, for widgets.LayerDiagram.
func ExamplePlacements() {
	setup := peft.NewSetup("ia3", &peft.IA3{TargetModules: []string{"query"}})
	for _, s := range notebook.Placements(setup, 2) {
		fmt.Println(s.Layer, s.Site, s.Method)
	}
	// Output:
	// 0 query ia3
	// 1 query ia3
}
