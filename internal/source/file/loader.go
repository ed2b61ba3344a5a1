// Package file is standalone mode's source of objects: manifests on disk, re-read when they
// change. A broken edit never takes anything away: a file that no longer parses keeps its last
// good objects, and an object that no longer validates keeps its last good version, while the
// problem is reported.
package file

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/heraldlb/herald/internal/manifest"
)

// Loader reads manifests and remembers what was last good.
type Loader struct {
	paths []string
	// sum is the content hash of the last load; Changed compares against it. stat is the
	// cheap fingerprint (names, sizes, mtimes, inodes) that lets Changed skip reading files.
	sum  [32]byte
	stat string
	// goodText is each file's content as of its last clean parse. Only texts are kept, and
	// packed: the objects are decoded again in the rare case a file or an object breaks,
	// instead of holding every object twice (100k Services cost hundreds of MB that way).
	goodText map[string]packed
	// validText is, per file, the last content in which every object was valid: where the last
	// valid version of an object that broke is found.
	validText map[string]packed
}

// packed is a file's text as the loader keeps it, DEFLATE-compressed. The texts are read
// again only when something breaks, yet they were held whole and written to the database on
// every change: at 100k Services, 12 MB of heap and of each write, where packed they are
// well under 1 MB (YAML repeats itself) for ~10 ms of compression.
type packed []byte

func pack(text []byte) packed {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed) // only an invalid level fails
	_, _ = w.Write(text)                         // a bytes.Buffer does not fail
	_ = w.Close()
	return b.Bytes()
}

func (p packed) text() ([]byte, error) {
	text, err := io.ReadAll(flate.NewReader(bytes.NewReader(p)))
	if err != nil {
		return nil, fmt.Errorf("unpacking a last good text: %w", err)
	}
	return text, nil
}

// decodePacked decodes a kept text of file. Packed texts are checked when restored, so an
// error is a bug; the callers report it as the file's problem rather than lose it.
func decodePacked(file string, p packed) (*manifest.Set, error) {
	text, err := p.text()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return manifest.Decode(file, text), nil
}

func unpackProblem(file string, err error) manifest.Problem {
	return manifest.Problem{Source: manifest.Source{File: file}, Severity: manifest.Error, Message: err.Error()}
}

// NewLoader returns a loader for files and directories.
func NewLoader(paths ...string) *Loader {
	return &Loader{paths: paths, goodText: map[string]packed{}, validText: map[string]packed{}}
}

// Changed reports whether the set of files or any file's content differs from the last Load.
// When no file's name, size, mtime or inode moved it answers without reading (a 100k-Service
// manifest is 15 MB; hashing it twice a second would cost a core); otherwise it compares
// content, so a touch without a change does not reload.
func (l *Loader) Changed() bool {
	if st := l.fingerprint(); st != "" && st == l.stat {
		return false
	}
	sum, err := l.hash()
	return err != nil || sum != l.sum
}

func (l *Loader) fingerprint() string {
	files, err := manifest.Files(l.paths...)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return ""
		}
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		fmt.Fprintf(&b, "%s %d %d %d\n", f, fi.Size(), fi.ModTime().UnixNano(), ino)
	}
	return b.String()
}

func (l *Loader) hash() ([32]byte, error) {
	h := sha256.New()
	files, err := manifest.Files(l.paths...)
	if err != nil {
		return [32]byte{}, err
	}
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00", f)
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintf(h, "error %v\x00", err)
			continue
		}
		_, _ = io.Copy(h, fh)
		fh.Close()
		h.Write([]byte{0})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// Load reads every manifest and builds the model, falling back to last good content where an
// edit broke something. The returned problems describe the files as they are now.
func (l *Loader) Load() *manifest.Built {
	l.stat = l.fingerprint()
	l.sum, _ = l.hash()
	set, err := manifest.LoadFiles(l.paths...)
	if err != nil {
		// The paths themselves are gone: keep everything as it was and say so.
		set = &manifest.Set{Problems: []manifest.Problem{{Severity: manifest.Error, Message: err.Error() + "; keeping the last loaded state"}}}
		for f, text := range l.goodText {
			good, err := decodePacked(f, text)
			if err != nil {
				set.Problems = append(set.Problems, unpackProblem(f, err))
				continue
			}
			set.Objects = append(set.Objects, good.Objects...)
		}
		sortBySource(set.Objects)
		return manifest.Build(manifest.Herald(set))
	}
	broken := map[string]bool{}
	for _, p := range set.Problems {
		if p.Severity == manifest.Error && p.Kind == "" && p.Source.File != "" {
			broken[p.Source.File] = true // the file (or a document of it) could not be parsed
		}
	}
	var objs []*manifest.Object
	byFile := map[string][]*manifest.Object{}
	for _, o := range set.Objects {
		byFile[o.Source.File] = append(byFile[o.Source.File], o)
	}
	for f := range broken {
		if text, ok := l.goodText[f]; ok {
			decoded, err := decodePacked(f, text)
			if err != nil {
				set.Problems = append(set.Problems, unpackProblem(f, err))
				continue
			}
			good := decoded.Objects
			set.Problems = append(set.Problems, manifest.Problem{Source: manifest.Source{File: f}, Severity: manifest.Warning,
				Message: fmt.Sprintf("using the last version of this file that parsed (%d objects) until it is fixed", len(good))})
			byFile[f] = good
		}
	}
	for f, fobjs := range byFile {
		if !broken[f] {
			if text, err := os.ReadFile(f); err == nil {
				l.goodText[f] = pack(text)
			}
		}
		objs = append(objs, fobjs...)
	}
	for f := range l.goodText {
		if _, ok := byFile[f]; !ok && !broken[f] {
			delete(l.goodText, f) // the file was deleted: its objects go with it
		}
	}
	sortBySource(objs)
	raw := &manifest.Set{Objects: objs, Problems: set.Problems}
	herald := manifest.Herald(raw)
	built := manifest.Build(herald)
	lastValid := l.lastValidObjects(built.Invalid)
	l.rememberValidFiles(herald, built, broken)
	if len(built.Invalid) == 0 {
		return built
	}
	// Swap invalid objects for their last valid versions and build again; report the
	// problems of the files as they are.
	patched := &manifest.Set{Problems: herald.Problems}
	for _, o := range herald.Objects {
		if built.Invalid[o.ID()] {
			if good, ok := lastValid[o.ID()]; ok {
				patched.Objects = append(patched.Objects, good)
				built.Problems = append(built.Problems, manifest.Problem{Source: o.Source, Severity: manifest.Warning, Kind: o.Kind, Name: o.Name,
					Message: "using its last valid version until the errors are fixed"})
				continue
			}
		}
		patched.Objects = append(patched.Objects, o)
	}
	again := manifest.Build(patched)
	again.Problems = built.Problems
	return again
}

// lastValidObjects decodes, only when some object is invalid, the last valid versions of the
// objects with those IDs.
func (l *Loader) lastValidObjects(invalid map[string]bool) map[string]*manifest.Object {
	if len(invalid) == 0 {
		return nil
	}
	set := &manifest.Set{}
	for f, text := range l.validText {
		if valid, err := decodePacked(f, text); err == nil {
			set.Merge(valid) // else the object stays invalid, and is reported as such
		}
	}
	out := map[string]*manifest.Object{}
	for _, o := range manifest.Herald(set).Objects {
		if invalid[o.ID()] {
			out[o.ID()] = o
		}
	}
	return out
}

// rememberValidFiles keeps the text of every file all of whose objects are valid.
func (l *Loader) rememberValidFiles(set *manifest.Set, b *manifest.Built, broken map[string]bool) {
	bad := map[string]bool{}
	for _, o := range set.Objects {
		if b.Invalid[o.ID()] {
			bad[o.Source.File] = true
		}
	}
	for f, text := range l.goodText {
		if !broken[f] && !bad[f] {
			l.validText[f] = text
		}
	}
	for f := range l.validText {
		if _, ok := l.goodText[f]; !ok {
			delete(l.validText, f)
		}
	}
}

func sortBySource(objs []*manifest.Object) {
	slices.SortStableFunc(objs, func(a, b *manifest.Object) int {
		if c := strings.Compare(a.Source.File, b.Source.File); c != 0 {
			return c
		}
		return a.Source.Doc - b.Source.Doc
	})
}

// savedFile is one file of the persisted last good state: texts, not objects, so that saving
// costs a copy rather than printing every object. Gob-encoded, sorted by name, so the same
// state saves the same bytes and an unchanged blob is not rewritten. (JSON, as earlier
// versions wrote it, turned 20 MB of manifest text into base64 twice, good and valid being
// usually the same text: 0.5 s of a 100k-Service reconcile.)
type savedFile struct {
	Name string
	// Good is the file's last content that parsed, when HasGood (gob drops empty slices).
	Good    []byte
	HasGood bool
	// Valid is its last content in which every object was valid, when HasValid; ValidIsGood
	// says it is Good's, which is then not stored twice.
	Valid                 []byte
	HasValid, ValidIsGood bool
	// Packed says Good and Valid are packed; versions before it saved plain texts.
	Packed bool
}

// savedJSON is the format earlier versions wrote; Restore still reads it.
type savedJSON struct {
	Files map[string][]byte `json:"files"`
	Valid map[string][]byte `json:"valid"`
}

// Save serialises the last good state, so that a restart while a file is broken still starts
// from what worked: restarting must never withdraw an address.
func (l *Loader) Save() ([]byte, error) {
	names := map[string]bool{}
	for f := range l.goodText {
		names[f] = true
	}
	for f := range l.validText {
		names[f] = true
	}
	out := make([]savedFile, 0, len(names))
	for _, f := range slices.Sorted(maps.Keys(names)) {
		sf := savedFile{Name: f, Packed: true}
		sf.Good, sf.HasGood = l.goodText[f]
		if v, ok := l.validText[f]; ok {
			sf.HasValid = true
			if good, ok := l.goodText[f]; ok && bytes.Equal(good, v) {
				sf.ValidIsGood = true
			} else {
				sf.Valid = v
			}
		}
		out = append(out, sf)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(out); err != nil {
		return nil, fmt.Errorf("saving last good manifests: %w", err)
	}
	return buf.Bytes(), nil
}

// Restore loads state written by Save (or the JSON of earlier versions); call it before the
// first Load.
func (l *Loader) Restore(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	if data[0] == '{' {
		var s savedJSON
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("restoring last good manifests: %w", err)
		}
		for f, text := range s.Files {
			l.goodText[f] = pack(text)
		}
		for f, text := range s.Valid {
			l.validText[f] = pack(text)
		}
		return nil
	}
	var files []savedFile
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&files); err != nil {
		return fmt.Errorf("restoring last good manifests: %w", err)
	}
	keep := func(name string, text []byte, isPacked bool) (packed, error) {
		if !isPacked {
			return pack(text), nil
		}
		if _, err := packed(text).text(); err != nil {
			return nil, fmt.Errorf("restoring last good manifests: %s: %w", name, err)
		}
		return packed(text), nil
	}
	for _, f := range files {
		good, err := keep(f.Name, f.Good, f.Packed)
		if err != nil {
			return err
		}
		if f.HasGood {
			l.goodText[f.Name] = good
		}
		switch {
		case f.ValidIsGood:
			l.validText[f.Name] = good
		case f.HasValid:
			valid, err := keep(f.Name, f.Valid, f.Packed)
			if err != nil {
				return err
			}
			l.validText[f.Name] = valid
		}
	}
	return nil
}
