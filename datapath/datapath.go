// Package datapath moves dumps between databases and stores, with no
// Temporal in it: the push pipeline (engine dump -> meter -> compress ->
// encrypt -> hash -> spool tee -> store) and the pull pipeline (store ->
// verify -> decrypt -> decompress -> engine restore), each one entry point
// taking an engine, a store and plain options, and returning what the
// manifest needs. Activities call it and keep only the Temporal parts:
// inputs, results, heartbeats from the Meter, and turning its errors into
// application errors.
//
// Errors say what kind of failure they are, for the caller to decide on a
// retry: *NoSpaceError (a full temp disk), *DamagedError (stored bytes that
// do not match their manifest), *MissingError (a file an earlier step left
// is gone), errors wrapping store.ErrRefused (a store that refuses for
// good) and engine errors (engine.IsPermanent). Anything else may be
// transient.
package datapath

import "fmt"

// DamagedError is a stored dump whose bytes do not match its manifest, or
// do not decompress: restoring it again cannot help.
type DamagedError struct{ Err error }

func (e *DamagedError) Error() string { return e.Err.Error() }
func (e *DamagedError) Unwrap() error { return e.Err }

func damaged(format string, args ...any) error {
	return &DamagedError{Err: fmt.Errorf(format, args...)}
}

// MissingError is a file an earlier step left on this host that is gone
// (the worker moved, the temp dir cleaned): the run must start again.
type MissingError struct{ Err error }

func (e *MissingError) Error() string { return e.Err.Error() }
func (e *MissingError) Unwrap() error { return e.Err }
