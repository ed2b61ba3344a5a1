package manifest

import (
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// fastJSON turns a document's YAML tree straight into the JSON that decodeDoc's general path
// (yaml.v3 decoding into any, then encoding/json) would give the typed decoder, for the
// plain subset manifests are written in: mappings with plain string keys, sequences, strings,
// decimal integers, true/false and nulls. That path built a map for every mapping and printed
// it again; at 100k Services it was a third of decoding. Anything else (anchors and aliases,
// merge keys, explicit tags, keys that are not strings or repeat, floats, other spellings of
// booleans and integers) answers ok false and takes the general path, which also words the
// errors. Keys come out sorted, as encoding/json prints a map, so that the first unknown field
// the typed decoder reports is the same one. A variable, so that tests compare both paths.
var fastJSON = appendJSON

func appendJSON(b []byte, n *yaml.Node) (_ []byte, ok bool) {
	if n.Style&yaml.TaggedStyle != 0 {
		return b, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		keys := make([]int, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Style&yaml.TaggedStyle != 0 || k.ShortTag() != "!!str" || k.Value == "<<" {
				return b, false
			}
			keys = append(keys, i)
		}
		slices.SortFunc(keys, func(x, y int) int { return strings.Compare(n.Content[x].Value, n.Content[y].Value) })
		b = append(b, '{')
		for j, i := range keys {
			if j > 0 {
				if n.Content[keys[j-1]].Value == n.Content[i].Value {
					return b, false // a repeated key: the general path reports it
				}
				b = append(b, ',')
			}
			b = appendJSONString(b, n.Content[i].Value)
			b = append(b, ':')
			if b, ok = appendJSON(b, n.Content[i+1]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	case yaml.SequenceNode:
		b = append(b, '[')
		for i, e := range n.Content {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendJSON(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return appendJSONString(b, n.Value), true
		case "!!null":
			return append(b, "null"...), true
		case "!!bool":
			switch n.Value {
			case "true", "True", "TRUE":
				return append(b, "true"...), true
			case "false", "False", "FALSE":
				return append(b, "false"...), true
			}
		case "!!int":
			if plainDecimal(n.Value) {
				return append(b, n.Value...), true
			}
		}
	}
	return b, false
}

// plainDecimal is an integer written as encoding/json prints one: digits, an optional minus,
// no leading zero, within int64.
func plainDecimal(s string) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "" || len(d) > 18 || d[0] == '0' && (len(d) > 1 || d != s) {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD, as encoding/json
// writes it.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// headOfNode reads a document's head from its tree as headOf reads it from decoded values:
// a field of another type than a string reads as empty. Only for trees fastJSON took.
func headOfNode(root *yaml.Node) head {
	h := head{}
	str := func(n *yaml.Node) string {
		if n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			return n.Value
		}
		return ""
	}
	h.apiVersion, h.kind = str(mapValue(root, "apiVersion")), str(mapValue(root, "kind"))
	if md := mapValue(root, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		h.name, h.namespace = str(mapValue(md, "name")), str(mapValue(md, "namespace"))
	}
	items := mapValue(root, "items")
	h.items = items != nil && items.Kind == yaml.SequenceNode
	return h
}

// mapValue is the value of key in mapping n, nil when it has none.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
