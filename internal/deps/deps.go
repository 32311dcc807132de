//go:build tools

// Package deps pins modules the project builds from go.mod rather than go install.
package deps

import (
	_ "github.com/go-zeromq/zmq4"
	_ "github.com/gomlx/gomlx/backends/simplego"
	_ "github.com/gomlx/gomlx/backends/xla"
	_ "github.com/gomlx/gomlx/graph"
	_ "github.com/janpfeifer/gonb"
	_ "github.com/sugarme/tokenizer"
)
