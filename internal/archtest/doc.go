// Package archtest holds tests about the shape of the code base rather than its behaviour: the
// pure packages import no Kubernetes, Prometheus or GoBGP, and every package says what it owns
// in a doc comment.
package archtest
