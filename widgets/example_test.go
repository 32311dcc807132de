package widgets_test

import (
	"fmt"

	"github.com/gopeft/gopeft/widgets"
)

func ExampleNiceTicks() {
	fmt.Println(widgets.NiceTicks(0.13, 0.87, 6))
	fmt.Println(widgets.NiceTicks(0, 600, 6))
	// Output:
	// [0 0.2 0.4 0.6 0.8 1]
	// [0 100 200 300 400 500 600]
}

func ExampleLineChart() {
	acc := 0.0
	svg := widgets.LineChart([]widgets.Series{
		{Name: "train loss", X: []float64{0, 100, 200}, Y: []float64{0.69, 0.31, 0.18}},
	}, widgets.LineChartOptions{Title: "Learning curve", XLabel: "step", YLabel: "loss", YMin: &acc})
	widgets.Display(svg) // shows it in a GoNB cell; silent elsewhere
	fmt.Println(svg[:4])
	// Output: <svg
}
