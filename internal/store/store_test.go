package store

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/heraldlb/herald/internal/model"
)

func TestSetLoadAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a := model.ServiceKey{Namespace: "ns", Name: "a"}
	b := model.ServiceKey{Namespace: "ns", Name: "b"}
	want := Allocations{a: {netip.MustParseAddr("10.0.0.1")}, b: {netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::2")}}
	if n, err := s.Put(want); err != nil || n != 2 {
		t.Fatalf("Put = %d, %v", n, err)
	}
	if n, _ := s.Put(want); n != 0 {
		t.Fatalf("unchanged Put wrote %d records", n)
	}
	if _, err := Open(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	delete(want, a)
	if n, _ := s.Put(want); n != 0 {
		t.Fatalf("Put without a wrote %d", n)
	}
	if got, _ := s.Load(); len(got) != 2 {
		t.Fatalf("Put deleted a record: %v", got) // releasing is Prune's, after the withdrawal
	}
	if n, err := s.Prune(want); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if n, _ := s.Prune(want); n != 0 {
		t.Fatalf("second Prune deleted %d", n)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Load()
	if err != nil || len(got) != 1 || len(got[b]) != 2 || got[b][1] != netip.MustParseAddr("2001:db8::2") {
		t.Fatalf("Load = %v, %v", got, err)
	}
}
