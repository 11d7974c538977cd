package registry

import (
	"slices"
	"testing"
)

func TestNamesAliasesAndDuplicates(t *testing.T) {
	s := New[int]("thing")
	s.Add("b", []string{"bee"}, 2)
	s.Add("a", nil, 1)
	if v, ok := s.Lookup("bee"); !ok || v != 2 {
		t.Errorf("alias bee: %v %v, want 2", v, ok)
	}
	if _, ok := s.Lookup("c"); ok {
		t.Error("found an unregistered name")
	}
	if got := s.Names(); !slices.Equal(got, []string{"a", "b", "bee"}) {
		t.Errorf("names %v: want sorted, each followed by its aliases", got)
	}
	if got := s.All(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("all %v", got)
	}
	defer func() {
		if r := recover(); r != "thing \"bee\" registered twice" {
			t.Errorf("registering an alias again: %v, want a panic naming it", r)
		}
	}()
	s.Add("c", []string{"bee"}, 3)
}
