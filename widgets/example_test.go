package widgets_test

import (
	"fmt"
	"strings"

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

func ExampleAccuracyVsParams() {
	full := 0.965
	svg := widgets.AccuracyVsParams([]widgets.MethodResult{
		{Method: "houlsby", TrainablePercent: 3.7, Accuracy: 0.951},
		{Method: "lora r=8", TrainablePercent: 0.27, Accuracy: 0.944},
	}, widgets.AccuracyVsParamsOptions{Title: "Spam", FullFineTuning: &full})
	fmt.Println(svg[strings.Index(svg, "<title>") : strings.Index(svg, "</title>")+8])
	// Output: <title>Spam</title>
}

func ExampleKendallTau() {
	predicted := []float64{0.90, 0.85, 0.80, 0.70}
	actual := []float64{0.92, 0.88, 0.79, 0.81}
	fmt.Printf("%.3f\n", widgets.KendallTau(predicted, actual))
	// Output: 0.667
}
