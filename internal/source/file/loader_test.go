package file

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
)

// The last good state survives Save and Restore exactly: texts that differ between good and
// valid, a file never fully valid, an empty file; and the same state saves the same bytes,
// so the store does not rewrite an unchanged blob.
func TestSaveRestore(t *testing.T) {
	l := NewLoader()
	l.goodText = map[string][]byte{"a.yaml": []byte("a: 2\n"), "b.yaml": []byte("b: 1\n"), "empty.yaml": {}, "never.yaml": []byte("n: 1\n")}
	l.validText = map[string][]byte{"a.yaml": []byte("a: 1\n"), "b.yaml": []byte("b: 1\n"), "empty.yaml": {}}
	data, err := l.Save()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if again, _ := l.Save(); !bytes.Equal(again, data) {
			t.Fatal("the same state saved different bytes")
		}
	}
	r := NewLoader()
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	same := func(x, y map[string][]byte) bool {
		return maps.EqualFunc(x, y, func(a, b []byte) bool { return bytes.Equal(a, b) })
	}
	if !same(r.goodText, l.goodText) || !same(r.validText, l.validText) {
		t.Fatalf("restored\n good %q\n valid %q\nwant\n good %q\n valid %q", r.goodText, r.validText, l.goodText, l.validText)
	}
	if r.goodText["empty.yaml"] == nil {
		t.Fatal("the empty file's good text was lost")
	}

	// State an earlier version wrote (JSON) still restores.
	old, _ := json.Marshal(map[string]any{"files": l.goodText, "valid": l.validText})
	r = NewLoader()
	if err := r.Restore(old); err != nil {
		t.Fatal(err)
	}
	if !same(r.goodText, l.goodText) || !same(r.validText, l.validText) {
		t.Fatalf("restored from JSON: good %q valid %q", r.goodText, r.validText)
	}
	if err := NewLoader().Restore([]byte("garbage")); err == nil {
		t.Fatal("a corrupt blob restored without an error")
	}
}
