// Package manifest reads the manifests users already have: multi-document YAML or JSON files
// and directories holding Herald, Cilium (v2, v2alpha1, including the legacy
// CiliumBGPPeeringPolicy) and MetalLB kinds, plus the core objects Herald reads (Service, Node,
// Namespace, Secret, EndpointSlice).
//
// Loading is three steps: Decode turns documents into typed objects, Herald converts the
// Cilium and MetalLB ones into herald.io/v1alpha1 objects, and Build validates everything and
// produces a model.Cluster. Every problem names the file, the document, the line where the YAML
// parser knows it, the object, and the field.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Source locates an object or a problem in the input.
type Source struct {
	File string
	// Doc is the 1-based index of the document in its file.
	Doc int
	// Line is the 1-based line, 0 when unknown.
	Line int
}

func (s Source) String() string {
	switch {
	case s.File == "":
		return "<input>"
	case s.Line > 0:
		return fmt.Sprintf("%s:%d (document %d)", s.File, s.Line, s.Doc)
	case s.Doc > 0:
		return fmt.Sprintf("%s (document %d)", s.File, s.Doc)
	}
	return s.File
}

// Severity of a problem.
type Severity string

// Errors make an object unusable; warnings say something is ignored or likely wrong.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Problem is one thing wrong with the input.
type Problem struct {
	Source    Source   `json:"source"`
	Severity  Severity `json:"severity"`
	Kind      string   `json:"kind,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
	// Field is the path of the offending field, as Kubernetes prints it
	// (spec.blocks[0].cidr, metadata.annotations[io.cilium/lb-ipam-ips]).
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Object names the object the problem is about, as kubectl would: Kind ns/name.
func (p Problem) Object() string {
	if p.Kind == "" {
		return ""
	}
	if p.Namespace != "" {
		return p.Kind + " " + p.Namespace + "/" + p.Name
	}
	return p.Kind + " " + p.Name
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source.String())
	b.WriteString(": ")
	b.WriteString(string(p.Severity))
	b.WriteString(": ")
	if o := p.Object(); o != "" {
		b.WriteString(o)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Object is one decoded document.
type Object struct {
	Source     Source
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	// Obj is the typed object: a *v1alpha1.X, a Cilium or MetalLB type of this package, or a
	// k8s.io/api core type.
	Obj any
	// From is the object this one was converted from (nil for objects as written).
	From *Object

	// text is the document as written: a slice of its file's contents (no copy), from the
	// document's "---" line to the next one. Only line numbers of problems and the as-written
	// printing of convert need the parsed tree, so they parse text again when they need it:
	// keeping every document's tree cost ~3 KB per Service, most of the loader's peak at
	// 100,000 Services. textLine is the file line text starts on.
	text     []byte
	textLine int
	// node is the parsed tree for an object that has no text of its own (an item of a List).
	node *yaml.Node
}

// tree returns the object's parsed document and what to add to its lines to get file lines;
// nil when there is none (converted objects).
func (o *Object) tree() (*yaml.Node, int) {
	if o.node != nil || o.text == nil {
		return o.node, 0
	}
	var n yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(o.text)).Decode(&n); err != nil || len(n.Content) == 0 {
		return nil, 0
	}
	root, offset := n.Content[0], o.textLine-1
	if root.Line+offset != o.Source.Line {
		return nil, 0 // the slice did not parse as the same document: no lines rather than wrong ones
	}
	return root, offset
}

// ID identifies an object for duplicate detection and last-good tracking.
func (o *Object) ID() string { return o.Kind + "/" + o.Namespace + "/" + o.Name }

// Set is the result of decoding: the objects and every problem found.
type Set struct {
	Objects  []*Object
	Problems []Problem
}

// HasErrors reports whether any problem is an error.
func (s *Set) HasErrors() bool {
	return slices.ContainsFunc(s.Problems, func(p Problem) bool { return p.Severity == Error })
}

func (s *Set) add(src Source, sev Severity, o *Object, fieldPath, msg string) {
	p := Problem{Source: src, Severity: sev, Field: fieldPath, Message: msg}
	if o != nil {
		p.Kind, p.Namespace, p.Name = o.Kind, o.Namespace, o.Name
		if p.Source.File == "" {
			p.Source = o.Source
		}
		if fieldPath != "" {
			if root, offset := o.tree(); root != nil {
				p.Source.Line = lineOf(root, fieldPath) + offset
			}
		}
	}
	s.Problems = append(s.Problems, p)
}

// Merge appends another set.
func (s *Set) Merge(o *Set) {
	s.Objects = append(s.Objects, o.Objects...)
	s.Problems = append(s.Problems, o.Problems...)
}

// manifestExt are the file endings read from directories.
var manifestExt = []string{".yaml", ".yml", ".json"}

// Files expands paths (files or directories, walked recursively, hidden entries skipped) into
// the sorted list of manifest files.
func Files(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading manifests: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && slices.Contains(manifestExt, strings.ToLower(filepath.Ext(path))) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading manifests in %s: %w", p, err)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// LoadFiles decodes every manifest under paths. The error is for paths that cannot be read at
// all; everything wrong inside a file is a Problem.
func LoadFiles(paths ...string) (*Set, error) {
	files, err := Files(paths...)
	if err != nil {
		return nil, err
	}
	set := &Set{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			set.add(Source{File: f}, Error, nil, "", "cannot read file: "+err.Error())
			continue
		}
		set.Merge(Decode(f, data))
	}
	return set, nil
}

// Decode reads every document of one file. A large file's documents are decoded on every
// core (see decodeParallel); the result is the same as reading them in order.
func Decode(file string, data []byte) *Set {
	docs := splitDocs(data)
	if len(docs.start) >= parallelMin && runtime.GOMAXPROCS(0) > 1 {
		if set, ok := decodeParallel(file, docs); ok {
			return set
		}
	}
	return decodeStream(file, docs)
}

// decodeStream reads the documents one after the other with one YAML decoder.
func decodeStream(file string, docs docSpans) *Set {
	set := &Set{}
	dec := yaml.NewDecoder(bytes.NewReader(docs.data))
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		src := Source{File: file, Doc: doc}
		if err != nil {
			// A syntax error ends the stream: yaml cannot resynchronise after it.
			set.add(src, Error, nil, "", "not valid YAML: "+err.Error())
			break
		}
		set.decodeRoot(src, &n, docs)
	}
	return set
}

// decodeRoot decodes one parsed document, unless it is empty (e.g. a leading "---").
func (s *Set) decodeRoot(src Source, n *yaml.Node, docs docSpans) {
	if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
		return
	}
	root := n.Content[0]
	src.Line = root.Line
	if o := s.decodeDoc(src, root); o != nil {
		o.text, o.textLine = docs.containing(root.Line)
	}
}

// parallelMin is how many documents a file needs before decodeParallel is worth its
// goroutines; a variable so that tests run both paths on small inputs.
var parallelMin = 256

// decodeParallel decodes the documents of a file in chunks, one goroutine per core: each
// chunk is the text of consecutive documents (splitDocs), read as a stream of its own, its
// lines shifted to the file's. At 100k Services decoding was most of the first reconcile, on
// one core. The chunks are merged in order and their document numbers offset, so objects,
// problems and their order are what decodeStream gives. A syntax error (which decodeStream
// reports in the stream's own words, and stops at) or a directive (which belongs to the
// document after it, across a chunk's edge) sends the whole file to decodeStream: ok is
// false.
func decodeParallel(file string, docs docSpans) (*Set, bool) {
	if bytes.HasPrefix(docs.data, []byte("%")) || bytes.Contains(docs.data, []byte("\n%")) {
		return nil, false
	}
	type chunk struct {
		set  Set
		docs int // documents in the chunk, empty ones included
		ok   bool
	}
	const perChunk = 512
	chunks := make([]chunk, (len(docs.start)+perChunk-1)/perChunk)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				first := c * perChunk
				chunks[c].docs, chunks[c].ok = chunks[c].set.decodeSpans(file, docs, first, min(first+perChunk, len(docs.start)))
			}
		}()
	}
	for c := range chunks {
		next <- c
	}
	close(next)
	wg.Wait()
	set := &Set{}
	before := 0
	for i := range chunks {
		c := &chunks[i]
		if !c.ok {
			return nil, false
		}
		for _, o := range c.set.Objects {
			o.Source.Doc += before
		}
		for j := range c.set.Problems {
			c.set.Problems[j].Source.Doc += before
		}
		set.Merge(&c.set)
		before += c.docs
	}
	return set, true
}

// decodeSpans decodes the text of documents from..to-1 as one stream, numbering documents
// from 1 within it. It reports how many documents it held, and false on a syntax error.
func (s *Set) decodeSpans(file string, docs docSpans, from, to int) (int, bool) {
	start, line := docs.start[from], docs.line[from]
	end := len(docs.data)
	if to < len(docs.start) {
		end = docs.start[to]
	}
	dec := yaml.NewDecoder(bytes.NewReader(docs.data[start:end]))
	n := 0
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			return n, true
		}
		if err != nil {
			return n, false
		}
		n++
		shiftLines(&node, line-1)
		s.decodeRoot(Source{File: file, Doc: n}, &node, docs)
	}
}

// shiftLines adds offset to the line of every node in a tree parsed from a document's own
// text, so the lines are the file's.
func shiftLines(n *yaml.Node, offset int) {
	if offset == 0 {
		return
	}
	n.Line += offset
	for _, c := range n.Content {
		shiftLines(c, offset)
	}
}

// docSpans are a file's documents as text: where each "---" line starts (in bytes and lines).
// A "---" at the start of a line always starts a document in YAML, even inside a scalar, so
// this needs no parser.
type docSpans struct {
	data  []byte
	start []int // byte offsets; start[0] = 0
	line  []int // the line each starts on
}

func splitDocs(data []byte) docSpans {
	d := docSpans{data: data, start: []int{0}, line: []int{1}}
	line := 1
	for i := 0; i < len(data); i++ {
		if data[i] != '\n' {
			continue
		}
		line++
		rest := data[i+1:]
		if bytes.HasPrefix(rest, []byte("---")) && (len(rest) == 3 || rest[3] == ' ' || rest[3] == '\t' || rest[3] == '\n' || rest[3] == '\r') {
			d.start = append(d.start, i+1)
			d.line = append(d.line, line)
		}
	}
	return d
}

// span returns document text i and the line it starts on.
func (d docSpans) span(i int) ([]byte, int) {
	end := len(d.data)
	if i+1 < len(d.start) {
		end = d.start[i+1]
	}
	return d.data[d.start[i]:end:end], d.line[i]
}

// containing returns the document text holding a line, and the line it starts on.
func (d docSpans) containing(line int) ([]byte, int) {
	i, found := slices.BinarySearch(d.line, line)
	if !found {
		i--
	}
	return d.span(i)
}

// decodeDoc adds the document's object, which it also returns (nil when it added none).
func (s *Set) decodeDoc(src Source, root *yaml.Node) *Object {
	if root.Kind != yaml.MappingNode {
		s.add(src, Error, nil, "", "a document must be a mapping with apiVersion and kind")
		return nil
	}
	raw, head, ok := documentJSON(root)
	if !ok {
		var v any
		if err := root.Decode(&v); err != nil {
			s.add(src, Error, nil, "", "cannot read document: "+err.Error())
			return nil
		}
		v = jsonable(v) // keys of any type become strings, so headOf and encoding/json see the same document
		var err error
		if raw, err = json.Marshal(v); err != nil {
			s.add(src, Error, nil, "", "cannot read document: "+err.Error())
			return nil
		}
		head = headOf(v)
	}
	o := &Object{Source: src, APIVersion: head.apiVersion, Kind: head.kind, Name: head.name, Namespace: head.namespace}
	switch {
	case head.apiVersion == "" || head.kind == "":
		s.add(src, Error, nil, "", "document has no apiVersion or kind")
		return nil
	case head.kind == "List" || strings.HasSuffix(head.kind, "List") && head.items:
		s.decodeList(src, root)
		return nil
	}
	k, ok := kinds[gvk{head.apiVersion, head.kind}]
	if !ok {
		s.add(src, Warning, o, "", fmt.Sprintf("%s %s is not a kind Herald reads; ignored", head.apiVersion, head.kind)+kindHint(head.apiVersion, head.kind))
		return nil
	}
	obj := k.new()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if k.strict != lenient {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(obj); err != nil {
		if k.strict == foreign {
			// Cilium and MetalLB fields Herald does not implement are reported and skipped.
			s.add(src, Warning, o, "", "has a field Herald does not support, which is ignored: "+jsonError(err))
			obj = k.new()
			if err := json.Unmarshal(raw, obj); err != nil {
				s.add(src, Error, o, "", jsonError(err))
				return nil
			}
		} else {
			s.add(src, Error, o, "", jsonError(err))
			return nil
		}
	}
	if o.Name == "" {
		s.add(src, Error, o, "metadata.name", "every object needs a name")
		return nil
	}
	o.Obj = obj
	s.Objects = append(s.Objects, o)
	return o
}

// documentJSON is the document as JSON and its head, by fastJSON; ok is false when the
// document needs the general path.
func documentJSON(root *yaml.Node) ([]byte, head, bool) {
	if fastJSON == nil {
		return nil, head{}, false
	}
	raw, ok := fastJSON(nil, root)
	if !ok {
		return nil, head{}, false
	}
	return raw, headOfNode(root), true
}

// head is what identifies a document: read from the decoded values, since parsing the
// document's JSON once more only for these took a sixth of decoding it. A field of another
// type than a string reads as empty, as encoding/json leaves it.
type head struct {
	apiVersion, kind, name, namespace string
	// items: the document has an items array (a List, even an empty one).
	items bool
}

func headOf(v any) head {
	doc, _ := v.(map[string]any)
	h := head{}
	h.apiVersion, _ = doc["apiVersion"].(string)
	h.kind, _ = doc["kind"].(string)
	if md, ok := doc["metadata"].(map[string]any); ok {
		h.name, _ = md["name"].(string)
		h.namespace, _ = md["namespace"].(string)
	}
	_, h.items = doc["items"].([]any)
	return h
}

func (s *Set) decodeList(src Source, root *yaml.Node) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "items" {
			continue
		}
		for _, item := range root.Content[i+1].Content {
			isrc := src
			isrc.Line = item.Line
			if o := s.decodeDoc(isrc, item); o != nil {
				o.node = item
			}
		}
	}
}

// jsonable turns yaml.v3's decoded values into ones encoding/json accepts (map keys of any
// type become strings, as Kubernetes reads them).
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	}
	return v
}

// jsonError rewrites encoding/json's messages into field language.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s: got a %s, want a %s", te.Field, te.Value, friendlyType(te.Type.String()))
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f + " (check its spelling and indentation)"
	}
	return strings.TrimPrefix(msg, "json: ")
}

func friendlyType(t string) string {
	switch {
	case strings.HasPrefix(t, "map[string]string"):
		return "mapping of strings (quote values like \"true\" or \"10.0.0.1\")"
	case t == "string":
		return "string"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "*int"):
		return "number"
	case t == "bool", t == "*bool":
		return "boolean"
	case strings.HasPrefix(t, "[]"):
		return "list"
	}
	return t
}
