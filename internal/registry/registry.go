// Package registry keeps what packages register about themselves under a
// name and aliases: the engines and the stores. Registration happens in
// init; lookups come after, from any goroutine.
package registry

import (
	"fmt"
	"slices"
	"sync"
)

// Set holds values of one kind (what names it in panics) by name and
// aliases.
type Set[T any] struct {
	what   string
	mu     sync.RWMutex
	byName map[string]*entry[T] // names and aliases
	names  []string             // names without aliases, sorted
}

type entry[T any] struct {
	v       T
	aliases []string
}

// New returns an empty set of what.
func New[T any](what string) *Set[T] {
	return &Set[T]{what: what, byName: map[string]*entry[T]{}}
}

// Add registers v under name and aliases. A name taken twice is a
// programming error and panics.
func (s *Set[T]) Add(name string, aliases []string, v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &entry[T]{v: v, aliases: aliases}
	for _, n := range append([]string{name}, aliases...) {
		if _, dup := s.byName[n]; dup {
			panic(fmt.Sprintf("%s %q registered twice", s.what, n))
		}
		s.byName[n] = e
	}
	s.names = append(s.names, name)
	slices.Sort(s.names)
}

// Lookup returns the value registered under name or alias.
func (s *Set[T]) Lookup(name string) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.byName[name]
	if !ok {
		var zero T
		return zero, false
	}
	return e.v, true
}

// Names returns every name, each followed by its aliases, in a stable
// order.
func (s *Set[T]) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, n := range s.names {
		out = append(out, n)
		out = append(out, s.byName[n].aliases...)
	}
	return out
}

// All returns every value, by name.
func (s *Set[T]) All() []T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]T, 0, len(s.names))
	for _, n := range s.names {
		out = append(out, s.byName[n].v)
	}
	return out
}
