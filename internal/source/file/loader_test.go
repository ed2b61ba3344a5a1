package file

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
)

func packAll(texts map[string]string) map[string]packed {
	out := map[string]packed{}
	for f, t := range texts {
		out[f] = pack([]byte(t))
	}
	return out
}

// unpackAll is what the loader holds, as texts.
func unpackAll(t *testing.T, ps map[string]packed) map[string]string {
	t.Helper()
	out := map[string]string{}
	for f, p := range ps {
		text, err := p.text()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = string(text)
	}
	return out
}

// The last good state survives Save and Restore exactly: texts that differ between good and
// valid, a file never fully valid, an empty file; and the same state saves the same bytes,
// so the store does not rewrite an unchanged blob.
func TestSaveRestore(t *testing.T) {
	good := map[string]string{"a.yaml": "a: 2\n", "b.yaml": "b: 1\n", "empty.yaml": "", "never.yaml": "n: 1\n"}
	valid := map[string]string{"a.yaml": "a: 1\n", "b.yaml": "b: 1\n", "empty.yaml": ""}
	l := NewLoader()
	l.goodText, l.validText = packAll(good), packAll(valid)
	data, err := l.Save()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if again, _ := l.Save(); !bytes.Equal(again, data) {
			t.Fatal("the same state saved different bytes")
		}
	}
	restored := func(data []byte) *Loader {
		t.Helper()
		r := NewLoader()
		if err := r.Restore(data); err != nil {
			t.Fatal(err)
		}
		if g, v := unpackAll(t, r.goodText), unpackAll(t, r.validText); !maps.Equal(g, good) || !maps.Equal(v, valid) {
			t.Fatalf("restored\n good %q\n valid %q\nwant\n good %q\n valid %q", g, v, good, valid)
		}
		return r
	}
	restored(data)

	// State earlier versions wrote still restores: JSON, and gob of plain texts.
	old, _ := json.Marshal(map[string]any{"files": stringsToBytes(good), "valid": stringsToBytes(valid)})
	restored(old)
	var plain []savedFile
	for _, f := range []string{"a.yaml", "b.yaml", "empty.yaml", "never.yaml"} {
		sf := savedFile{Name: f, Good: []byte(good[f]), HasGood: true}
		if v, ok := valid[f]; ok {
			sf.HasValid, sf.ValidIsGood = true, v == good[f]
			if !sf.ValidIsGood {
				sf.Valid = []byte(v)
			}
		}
		plain = append(plain, sf)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(plain); err != nil {
		t.Fatal(err)
	}
	restored(buf.Bytes())

	if err := NewLoader().Restore([]byte("garbage")); err == nil {
		t.Fatal("a corrupt blob restored without an error")
	}
	buf.Reset()
	_ = gob.NewEncoder(&buf).Encode([]savedFile{{Name: "x.yaml", Good: []byte("not deflate"), HasGood: true, Packed: true}})
	if err := NewLoader().Restore(buf.Bytes()); err == nil || !strings.Contains(err.Error(), "x.yaml") {
		t.Fatalf("a corrupt packed text restored: %v", err)
	}
}

func stringsToBytes(m map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}

// What the loader keeps and saves for a large manifest is a fraction of its text: at 100k
// Services the plain texts were 12 MB of heap, written whole to the database on each change.
func TestSavedStateIsPacked(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: web-%d, namespace: shop}\nspec: {type: LoadBalancer, ports: [{port: 443}]}\n", i)
	}
	text := b.String()
	l := NewLoader()
	l.goodText = map[string]packed{"svc.yaml": pack([]byte(text))}
	l.validText = map[string]packed{"svc.yaml": l.goodText["svc.yaml"]}
	data, err := l.Save()
	if err != nil {
		t.Fatal(err)
	}
	if len(data)*10 > len(text) {
		t.Fatalf("saved %d bytes for %d bytes of manifests; want under a tenth", len(data), len(text))
	}
}

// A file that stops parsing keeps its last good objects, read back from the packed text,
// and says so.
func TestBrokenFileKeepsItsLastGoodObjects(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/svc.yaml"
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {type: LoadBalancer, ports: [{port: 443}]}\n")
	l := NewLoader(dir)
	if got := l.Load().Cluster.Services; len(got) != 1 || got[0].Key.Name != "web" {
		t.Fatalf("first load: %+v", got)
	}
	write("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop\n")
	built := l.Load()
	if got := built.Cluster.Services; len(got) != 1 || got[0].Key.Name != "web" {
		t.Fatalf("after the file broke the Service went: %+v", got)
	}
	var said bool
	for _, p := range built.Problems {
		said = said || strings.Contains(p.Message, "last version of this file that parsed (1 objects)")
	}
	if !said {
		t.Fatalf("the fallback is not reported: %+v", built.Problems)
	}
}
