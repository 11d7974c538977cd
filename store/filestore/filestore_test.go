package filestore

import (
	"testing"

	"github.com/envsync/envsync/store/storetest"
)

func TestContract(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, s, 3<<20)
}

func TestKeysCannotEscapeTheDirectory(t *testing.T) {
	s, _ := New(t.TempDir())
	for _, k := range []string{"../x", "a/../../x", "/abs", ""} {
		if _, err := s.path(k); err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
}
