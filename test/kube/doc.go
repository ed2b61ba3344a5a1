// Package kube tests cluster mode against a real kube-apiserver and etcd (built from Go
// modules by hack/kube-testenv.sh and run by controller-runtime's envtest), never a fake
// clientset.
package kube
