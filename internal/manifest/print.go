package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// Print writes the objects as a multi-document YAML stream. Converted objects are preceded by
// a comment naming what they came from; objects that were not converted are written as the
// user wrote them (their comments and key order kept).
func Print(w io.Writer, objs []*Object) error {
	for i, o := range objs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		var out []byte
		var err error
		root, _ := o.tree()
		if o.From == nil && root != nil {
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err = enc.Encode(root); err == nil {
				err = enc.Close()
			}
			out = buf.Bytes()
		} else {
			out, err = marshalClean(o.Obj)
			if o.From != nil {
				fmt.Fprintf(w, "# converted from %s %s %s (%s)\n", o.From.APIVersion, o.From.Kind, o.From.Name, o.From.Source)
			}
		}
		if err != nil {
			return fmt.Errorf("writing %s %s: %w", o.Kind, o.Name, err)
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

// marshalClean renders an API object without the empty fields Go's zero values produce
// (creationTimestamp: null, status: {}).
func marshalClean(obj any) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return sigsyaml.Marshal(prune(v))
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = prune(e)
			if e == nil {
				delete(x, k)
				continue
			}
			if m, ok := e.(map[string]any); ok && len(m) == 0 && k != "selector" && k != "advertisements" && k != "serviceSelector" && k != "nodeSelector" {
				// An empty selector means "everything" and must survive; other empty maps are noise.
				delete(x, k)
				continue
			}
			x[k] = e
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = prune(e)
		}
	}
	return v
}
