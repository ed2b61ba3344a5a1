// Command image builds Herald's container image without a container engine: one layer
// holding the static herald binary at /herald, written as an image archive that `docker load`,
// `podman load`, `ctr -n k8s.io images import` and `kind load image-archive` take. The layer's
// files and the config carry fixed times, so the same binary always gives the same image ID.
//
//	go run . -binary ../../bin/linux-amd64/herald -tag ghcr.io/heraldlb/herald:0.1.0 -o ../../bin/herald-image.tar
//
// hack/image.sh builds the binary and runs this. It is a module of its own so that Herald's
// own dependencies stay free of image tooling.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	binary := flag.String("binary", "", "the static linux herald binary to put at /herald")
	tag := flag.String("tag", "", "the image reference, e.g. ghcr.io/heraldlb/herald:0.1.0")
	version := flag.String("version", "", "the version, for the image's labels")
	out := flag.String("o", "herald-image.tar", "where to write the image archive")
	flag.Parse()
	if *binary == "" || *tag == "" {
		fmt.Fprintln(os.Stderr, "image: -binary and -tag are required")
		os.Exit(2)
	}
	if err := build(*binary, *tag, *version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// epoch is every time in the image: reproducible builds.
var epoch = time.Unix(0, 0).UTC()

// Image builds the image: the binary as /herald, the entrypoint, labels. It runs as root by
// default because the agent needs CAP_NET_ADMIN and CAP_NET_RAW in effect; the chart runs the
// operator as user 65532.
func Image(binary []byte, version string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "herald", Mode: 0o755, Size: int64(len(binary)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{"/herald"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "herald",
		"org.opencontainers.image.description": "LoadBalancer addresses and routes for bare-metal Kubernetes: LB-IPAM, BGP, L2 announcements",
		"org.opencontainers.image.source":      "https://github.com/heraldlb/herald",
		"org.opencontainers.image.version":     version,
	}
	return mutate.ConfigFile(img, cf)
}

func build(binary, tag, version, out string) error {
	b, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("-tag %q: %w", tag, err)
	}
	img, err := Image(b, version)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(out, ref, img); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s (image ID %s)\n", out, ref, id)
	return nil
}
