package testhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bzImageSpec describes a synthetic bzImage: a setup area of
// (setupSects+1) sectors with the boot protocol header, then "code" bytes,
// then the payload, then more bytes.
type bzImageSpec struct {
	setupSects byte
	version    uint16
	magic      string // "HdrS" normally
	code       int    // bytes between the protected-mode start and the payload
	payload    []byte
	lengthFix  int // added to payload_length
	offsetFix  int // added to payload_offset
	tail       int // bytes after the payload
}

func (s bzImageSpec) build() []byte {
	setup := int(s.setupSects)
	if setup == 0 {
		setup = 4
	}
	img := make([]byte, (setup+1)*512+s.code)
	for i := range img {
		img[i] = byte(i * 7) // not zero, not a magic
	}
	img[hdrSetupSects] = s.setupSects
	copy(img[hdrMagic:], s.magic)
	binary.LittleEndian.PutUint16(img[hdrVersion:], s.version)
	binary.LittleEndian.PutUint32(img[hdrPayloadOffset:], uint32(s.code+s.offsetFix))
	binary.LittleEndian.PutUint32(img[hdrPayloadLength:], uint32(len(s.payload)+s.lengthFix))
	img = append(img, s.payload...)
	return append(img, bytes.Repeat([]byte{0xaa}, s.tail)...)
}

// withSize appends the 4-byte little-endian size trailer of the kernel build.
func withSize(b []byte, size uint32) []byte {
	return binary.LittleEndian.AppendUint32(append([]byte{}, b...), size)
}

func TestLocatePayload(t *testing.T) {
	junk := bytes.Repeat([]byte{0x55}, 64)
	lz4 := withSize(append([]byte{0x02, 0x21, 0x4c, 0x18}, junk...), 123456)
	zst := withSize(append([]byte{0x28, 0xb5, 0x2f, 0xfd}, junk...), 7777777)
	xz := withSize(append([]byte{0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00}, junk...), 42)
	gz := withSize(append([]byte{0x1f, 0x8b, 0x08}, junk...), 99) // gzip's own ISIZE
	tests := []struct {
		name    string
		spec    bzImageSpec
		want    Payload
		wantErr string
	}{
		{"lz4", bzImageSpec{setupSects: 27, version: 0x020f, magic: "HdrS", code: 300, payload: lz4, tail: 100},
			Payload{Offset: 28*512 + 300, Length: int64(len(lz4) - 4), Compression: LZ4, Size: 123456}, ""},
		{"zstd", bzImageSpec{setupSects: 39, version: 0x020f, magic: "HdrS", code: 1, payload: zst},
			Payload{Offset: 40*512 + 1, Length: int64(len(zst) - 4), Compression: ZSTD, Size: 7777777}, ""},
		{"xz", bzImageSpec{setupSects: 1, version: 0x0208, magic: "HdrS", payload: xz},
			Payload{Offset: 2 * 512, Length: int64(len(xz) - 4), Compression: XZ, Size: 42}, ""},
		{"gzip keeps its trailer", bzImageSpec{setupSects: 2, version: 0x020c, magic: "HdrS", code: 16, payload: gz},
			Payload{Offset: 3*512 + 16, Length: int64(len(gz)), Compression: Gzip, Size: 99}, ""},
		{"setup_sects 0 means 4", bzImageSpec{setupSects: 0, version: 0x020f, magic: "HdrS", code: 8, payload: lz4},
			Payload{Offset: 5*512 + 8, Length: int64(len(lz4) - 4), Compression: LZ4, Size: 123456}, ""},
		{"no header", bzImageSpec{setupSects: 4, version: 0x020f, magic: "MZ!!", payload: lz4}, Payload{}, `"HdrS" at 0x202`},
		{"protocol too old", bzImageSpec{setupSects: 4, version: 0x0207, magic: "HdrS", payload: lz4}, Payload{}, "2.07"},
		{"payload past the end", bzImageSpec{setupSects: 4, version: 0x020f, magic: "HdrS", payload: lz4, lengthFix: 1}, Payload{}, "outside"},
		{"offset past the end", bzImageSpec{setupSects: 4, version: 0x020f, magic: "HdrS", payload: lz4, offsetFix: 1 << 30}, Payload{}, "outside"},
		{"length too small", bzImageSpec{setupSects: 4, version: 0x020f, magic: "HdrS", payload: lz4[:4]}, Payload{}, "outside"},
		{"unknown compression", bzImageSpec{setupSects: 4, version: 0x020f, magic: "HdrS", payload: withSize([]byte("BZh91AY&SY"), 5)}, Payload{}, "unknown payload compression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LocatePayload(tc.spec.build())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LocatePayload = %+v, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("LocatePayload = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := LocatePayload(make([]byte, hdrEnd-1)); err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Errorf("short image: %v", err)
	}
}

// FuzzLocatePayload: no input makes LocatePayload panic, and a payload it
// returns lies inside the image and starts with its compression's magic.
func FuzzLocatePayload(f *testing.F) {
	f.Add(bzImageSpec{setupSects: 1, version: 0x020f, magic: "HdrS", payload: withSize([]byte{0x02, 0x21, 0x4c, 0x18, 1, 2}, 9)}.build())
	f.Add(bzImageSpec{setupSects: 0, version: 0x020f, magic: "HdrS", payload: []byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0}}.build())
	f.Add(make([]byte, hdrEnd))
	f.Fuzz(func(t *testing.T, img []byte) {
		p, err := LocatePayload(img)
		if err != nil {
			return
		}
		if p.Offset < 0 || p.Length <= 0 || p.Offset+p.Length > int64(len(img)) {
			t.Fatalf("payload %+v outside a %d-byte image", p, len(img))
		}
		if c, ok := compressionAt(img[p.Offset:]); !ok || c != p.Compression {
			t.Fatalf("payload %+v does not start with its magic", p)
		}
	})
}

// compressTool compresses data the way the kernel build does for c,
// including the size trailer for the formats that get one.
func compressTool(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var argv []string
	switch c {
	case Gzip:
		argv = []string{"gzip", "-9", "-n", "-c"}
	case XZ:
		argv = []string{"xz", "--check=crc32", "-c"}
	case ZSTD:
		argv = []string{"zstd", "-q", "-19", "-c"}
	case LZ4:
		argv = []string{"lz4", "-l", "-9", "-c"} // legacy frame, as the kernel's
	}
	requireTool(t, argv[0])
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", argv[0], err)
	}
	if c == Gzip {
		return out
	}
	return withSize(out, uint32(len(data)))
}

// requireTool fails the test, naming the Debian package, when prog is missing.
func requireTool(t testing.TB, prog string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err == nil {
		return
	}
	pkg := prog
	for _, h := range hostTools {
		if h.prog == prog {
			pkg = h.pkg
		}
	}
	t.Fatalf("%s is missing: install the Debian package %s", prog, pkg)
}

// fakeELF is an ELF-looking file big enough to span several blocks.
func fakeELF() []byte {
	b := append([]byte{}, elfMagic...)
	for i := 0; len(b) < 200<<10; i++ {
		b = append(b, byte(i), byte(i>>8), 'k', 'e', 'r', 'n', 'e', 'l')
	}
	return b
}

func TestExtractVmlinux(t *testing.T) {
	elf := fakeELF()
	tests := []struct {
		name    string
		c       Compression
		mangle  func(t *testing.T, s *bzImageSpec)
		wantErr bool
	}{
		{name: "lz4", c: LZ4},
		{name: "zstd", c: ZSTD},
		{name: "xz", c: XZ},
		{name: "gzip", c: Gzip},
		{name: "zstd, no boot header: found by scanning", c: ZSTD, mangle: func(_ *testing.T, s *bzImageSpec) { s.magic = "NoHd" }},
		{name: "lz4, wrong payload_offset: found by scanning", c: LZ4, mangle: func(_ *testing.T, s *bzImageSpec) { s.offsetFix = 3 }},
		{name: "xz, trailer size wrong: found by scanning", c: XZ, mangle: func(_ *testing.T, s *bzImageSpec) {
			binary.LittleEndian.PutUint32(s.payload[len(s.payload)-4:], 12345)
		}},
		{name: "payload is not an ELF file", c: ZSTD, mangle: func(t *testing.T, s *bzImageSpec) {
			s.payload = compressTool(t, ZSTD, bytes.Repeat([]byte("not elf "), 1000))
		}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := bzImageSpec{setupSects: 30, version: 0x020f, magic: "HdrS", code: 4000, payload: compressTool(t, tc.c, elf), tail: 512}
			if tc.mangle != nil {
				tc.mangle(t, &spec)
			}
			dir := t.TempDir()
			img, out := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "vmlinux")
			if err := os.WriteFile(img, spec.build(), 0o644); err != nil {
				t.Fatal(err)
			}
			err := ExtractVmlinux(context.Background(), img, out)
			if tc.wantErr {
				if err == nil {
					t.Fatal("ExtractVmlinux succeeded on an image without a kernel")
				}
				if _, serr := os.Stat(out); serr == nil {
					t.Error("a failed extraction left its output behind")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, elf) {
				t.Errorf("extracted %d bytes, want the original %d", len(got), len(elf))
			}
		})
	}
}
