// Package buildinfo says which envsync this is: `envsync version` prints
// it and every manifest records it.
package buildinfo

// Version is envsync's version; release builds set it with
// -ldflags "-X github.com/envsync/envsync/buildinfo.Version=...".
var Version = "0.1.0"
