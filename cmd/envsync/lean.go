//go:build lean

package main

import (
	"context"
	"flag"
	"io"
)

// The lean build is the worker for database hosts: it leaves out dev and
// demo, which embed the Temporal server and its Web UI (most of the
// default binary's size and memory). run says so when they are asked for.
var devCommand, demoCommand func(*flag.FlagSet) func(context.Context, io.Writer, io.Writer) error
