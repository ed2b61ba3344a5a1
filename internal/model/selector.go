package model

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Operator is a label selector requirement operator, as in Kubernetes.
type Operator string

// The operators Kubernetes' metav1.LabelSelector accepts.
const (
	OpIn           Operator = "In"
	OpNotIn        Operator = "NotIn"
	OpExists       Operator = "Exists"
	OpDoesNotExist Operator = "DoesNotExist"
)

// Requirement is one matchExpressions entry.
type Requirement struct {
	Key      string
	Operator Operator
	Values   []string
}

// Selector is a label selector. An empty (non-nil) selector matches everything; what a nil
// *Selector means is decided by the field that holds it (Cilium uses both readings), so the
// callers spell it out with MatchesOr.
type Selector struct {
	MatchLabels      map[string]string
	MatchExpressions []Requirement
}

// LabelFunc looks a label up. Selectors take a function rather than a map so that callers can
// add virtual labels (a Service's namespace and name) without building a new map per match,
// which matters on the IPAM hot path.
type LabelFunc func(key string) (string, bool)

// MapLabels adapts a plain map to a LabelFunc.
func MapLabels(m map[string]string) LabelFunc {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// ErrSelector is wrapped by every selector validation error.
var ErrSelector = errors.New("invalid label selector")

// Validate checks operators and their value counts the way the API server does.
func (s *Selector) Validate() error {
	if s == nil {
		return nil
	}
	for k := range s.MatchLabels {
		if k == "" {
			return fmt.Errorf("%w: matchLabels has an empty key", ErrSelector)
		}
	}
	for i, r := range s.MatchExpressions {
		if r.Key == "" {
			return fmt.Errorf("%w: matchExpressions[%d].key is empty", ErrSelector, i)
		}
		switch r.Operator {
		case OpIn, OpNotIn:
			if len(r.Values) == 0 {
				return fmt.Errorf("%w: matchExpressions[%d] (%s %s) needs at least one value", ErrSelector, i, r.Key, r.Operator)
			}
		case OpExists, OpDoesNotExist:
			if len(r.Values) != 0 {
				return fmt.Errorf("%w: matchExpressions[%d] (%s %s) must not have values", ErrSelector, i, r.Key, r.Operator)
			}
		default:
			return fmt.Errorf("%w: matchExpressions[%d].operator %q is not one of In, NotIn, Exists, DoesNotExist", ErrSelector, i, r.Operator)
		}
	}
	return nil
}

// Matches reports whether the labels satisfy every term. It allocates nothing.
func (s *Selector) Matches(get LabelFunc) bool {
	if s == nil {
		return true
	}
	for k, want := range s.MatchLabels {
		if v, ok := get(k); !ok || v != want {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, ok := get(r.Key)
		switch r.Operator {
		case OpIn:
			if !ok || !slices.Contains(r.Values, v) {
				return false
			}
		case OpNotIn:
			// Kubernetes semantics: a missing key satisfies NotIn.
			if ok && slices.Contains(r.Values, v) {
				return false
			}
		case OpExists:
			if !ok {
				return false
			}
		case OpDoesNotExist:
			if ok {
				return false
			}
		default:
			return false // unvalidated selectors never match rather than match everything
		}
	}
	return true
}

// MatchesOr treats a nil selector as ifNil, and otherwise matches.
func (s *Selector) MatchesOr(get LabelFunc, ifNil bool) bool {
	if s == nil {
		return ifNil
	}
	return s.Matches(get)
}

// String renders the selector the way kubectl prints one (a=b,k in (x,y),!z).
func (s *Selector) String() string {
	if s == nil {
		return "<none>"
	}
	var parts []string
	keys := make([]string, 0, len(s.MatchLabels))
	for k := range s.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, r := range s.MatchExpressions {
		switch r.Operator {
		case OpIn:
			parts = append(parts, fmt.Sprintf("%s in (%s)", r.Key, strings.Join(r.Values, ",")))
		case OpNotIn:
			parts = append(parts, fmt.Sprintf("%s notin (%s)", r.Key, strings.Join(r.Values, ",")))
		case OpExists:
			parts = append(parts, r.Key)
		case OpDoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	if len(parts) == 0 {
		return "<all>"
	}
	return strings.Join(parts, ",")
}
