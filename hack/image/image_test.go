package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageArchive runs hack/image.sh as a user would, reads the archive back as a container
// runtime would load it, and runs the binary it holds: the chart's image exists and works.
func TestImageArchive(t *testing.T) {
	out := filepath.Join(t.TempDir(), "herald-image.tar")
	cmd := exec.Command("../image.sh")
	cmd.Env = append(os.Environ(), "IMAGE_OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/image.sh: %v\n%s", err, b)
	}
	tag, err := name.NewTag("ghcr.io/heraldlb/herald:0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("the archive does not load as %s: %v", tag, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || strings.Join(cf.Config.Entrypoint, " ") != "/herald" || cf.Config.Labels["org.opencontainers.image.version"] != "0.1.0" {
		t.Errorf("config: os %s arch %s entrypoint %v labels %v", cf.OS, cf.Architecture, cf.Config.Entrypoint, cf.Config.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != "herald" || hdr.Mode&0o111 == 0 {
		t.Fatalf("the layer's first file: %+v, %v", hdr, err)
	}
	bin := filepath.Join(t.TempDir(), "herald")
	f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, tr); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("the layer holds more than /herald: %v", err)
	}
	// Static: it runs with no libc around it, as in the empty image.
	v, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(v), "herald 0.1.0 ") {
		t.Errorf("the image's herald version: %v\n%s", err, v)
	}
	if ldd, _ := exec.Command("file", bin).CombinedOutput(); len(ldd) > 0 && strings.Contains(string(ldd), "dynamically linked") {
		t.Errorf("the image's binary is dynamically linked: %s", ldd)
	}
	// The same binary gives the same image.
	again, err := Image(mustRead(t, "../../bin/linux-amd64/herald"), "0.1.0")
	if err != nil {
		t.Fatal(err)
	}
	id1, _ := img.ConfigName()
	id2, _ := again.ConfigName()
	if id1 != id2 {
		t.Errorf("two builds of one binary: image IDs %s and %s", id1, id2)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
