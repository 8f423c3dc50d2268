package testhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Compression names a kernel payload compression that the Debian kernels
// use, by the Debian tool that decompresses it.
type Compression string

// The payload compressions ExtractVmlinux can decompress.
const (
	Gzip Compression = "gzip" // magic 1f 8b 08
	XZ   Compression = "xz"   // magic fd 37 7a 58 5a 00
	ZSTD Compression = "zstd" // magic 28 b5 2f fd (Debian 6.12)
	LZ4  Compression = "lz4"  // legacy LZ4 frame, magic 02 21 4c 18 (Debian 6.1)
)

var payloadMagics = []struct {
	c     Compression
	magic []byte
}{
	{LZ4, []byte{0x02, 0x21, 0x4c, 0x18}},
	{ZSTD, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{XZ, []byte{0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00}},
	{Gzip, []byte{0x1f, 0x8b, 0x08}},
}

// decompressor is the Debian command line that decompresses c from stdin.
func (c Compression) decompressor() []string {
	switch c {
	case Gzip:
		return []string{"gzip", "-dc"}
	case XZ:
		return []string{"xz", "-dc", "--single-stream"}
	case ZSTD:
		return []string{"zstd", "-q", "-dc"}
	case LZ4:
		return []string{"lz4", "-dc"}
	}
	return nil
}

func compressionAt(b []byte) (Compression, bool) {
	for _, m := range payloadMagics {
		if bytes.HasPrefix(b, m.magic) {
			return m.c, true
		}
	}
	return "", false
}

// Payload is the compressed kernel (the vmlinux ELF) inside a bzImage, as
// the x86 boot protocol header describes it (Documentation/arch/x86/boot.rst,
// protocol 2.08+): payload_offset (header offset 0x248) counts from the start
// of the protected-mode code, which begins after (setup_sects+1) 512-byte
// sectors (setup_sects at 0x1f1, 0 meaning 4).
type Payload struct {
	// Offset is the payload's first byte in the bzImage file.
	Offset int64
	// Length is how many bytes to decompress. The kernel build appends the
	// uncompressed size (4 bytes, little endian) to every format but gzip,
	// whose own trailer already ends in it; Length leaves that out.
	Length int64
	// Compression is recognised from the payload's magic bytes.
	Compression Compression
	// Size is the uncompressed size in bytes recorded in the trailer: the
	// size of the vmlinux ELF file.
	Size uint32
}

// Boot protocol header fields (boot.rst "THE REAL-MODE KERNEL HEADER").
const (
	hdrSetupSects    = 0x1f1
	hdrMagic         = 0x202 // "HdrS"
	hdrVersion       = 0x206
	hdrPayloadOffset = 0x248
	hdrPayloadLength = 0x24c
	hdrEnd           = 0x250
)

// LocatePayload finds the compressed kernel in the bzImage img through the
// boot protocol header. It fails, naming the offending offset, when img is
// too short, has no "HdrS" header or a protocol older than 2.08, when the
// payload does not fit in img, or when its magic is none of the supported
// compressions.
func LocatePayload(img []byte) (Payload, error) {
	if len(img) < hdrEnd {
		return Payload{}, fmt.Errorf("testhost: bzImage of %d bytes is shorter than its %#x-byte setup header", len(img), hdrEnd)
	}
	if string(img[hdrMagic:hdrMagic+4]) != "HdrS" {
		return Payload{}, fmt.Errorf("testhost: no boot protocol header (\"HdrS\" at %#x)", hdrMagic)
	}
	if v := binary.LittleEndian.Uint16(img[hdrVersion:]); v < 0x0208 {
		return Payload{}, fmt.Errorf("testhost: boot protocol %d.%02d at %#x has no payload fields (2.08+)", v>>8, v&0xff, hdrVersion)
	}
	setup := int64(img[hdrSetupSects])
	if setup == 0 {
		setup = 4
	}
	po := int64(binary.LittleEndian.Uint32(img[hdrPayloadOffset:]))
	pl := int64(binary.LittleEndian.Uint32(img[hdrPayloadLength:]))
	off := (setup+1)*512 + po
	if pl <= 4 || off+pl > int64(len(img)) {
		return Payload{}, fmt.Errorf("testhost: payload [%#x, +%#x) (payload_offset %#x, payload_length %#x) is outside the %#x-byte bzImage",
			off, pl, po, pl, len(img))
	}
	c, ok := compressionAt(img[off:])
	if !ok {
		return Payload{}, fmt.Errorf("testhost: unknown payload compression % x at %#x", img[off:off+4], off)
	}
	p := Payload{Offset: off, Length: pl, Compression: c, Size: binary.LittleEndian.Uint32(img[off+pl-4:])}
	if c != Gzip {
		p.Length -= 4
	}
	return p, nil
}

const decompressTimeout = 2 * time.Minute

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

// ExtractVmlinux decompresses the vmlinux ELF inside the bzImage file
// bzImage into out, for PVH boots. The payload is found through the boot
// protocol header (LocatePayload) and decompressed with the Debian tool for
// its format (lz4, zstd, xz, gzip); the result must be an ELF file of the
// size the payload trailer records. When that fails it falls back to
// scanning the image for compression magics and accepts the first stream
// that decompresses to an ELF file. out is replaced only on success.
func ExtractVmlinux(ctx context.Context, bzImage, out string) error {
	img, err := os.ReadFile(bzImage)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	defer os.Remove(tmp)
	p, perr := LocatePayload(img)
	if perr == nil {
		perr = decompressTo(ctx, p.Compression, img[p.Offset:p.Offset+p.Length], tmp)
		if perr == nil {
			perr = checkELF(tmp, int64(p.Size))
		}
		if perr == nil {
			return os.Rename(tmp, out)
		}
	}
	for _, m := range payloadMagics {
		rest, base := img, 0
		for tries := 0; tries < 20; tries++ {
			i := bytes.Index(rest, m.magic)
			if i < 0 {
				break
			}
			at := base + i
			// a stream that does not decompress cleanly to its end may
			// still have produced the whole ELF before trailing bytes
			_ = decompressTo(ctx, m.c, img[at:], tmp)
			if checkELF(tmp, -1) == nil {
				return os.Rename(tmp, out)
			}
			rest, base = img[at+1:], at+1
		}
	}
	return fmt.Errorf("testhost: no vmlinux found in %s (header payload: %v)", filepath.Base(bzImage), perr)
}

func decompressTo(ctx context.Context, c Compression, data []byte, out string) error {
	argv := c.decompressor()
	if argv == nil {
		return fmt.Errorf("testhost: no decompressor for %q", c)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	_, err = command{name: argv[0], args: argv[1:], stdin: bytes.NewReader(data), stdout: f, timeout: decompressTimeout}.run(ctx)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkELF checks that file starts with the ELF magic and, when size >= 0,
// that it is size bytes long.
func checkELF(file string, size int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 4)
	if _, err := f.ReadAt(head, 0); err != nil || !bytes.Equal(head, elfMagic) {
		return errors.New("testhost: decompressed payload is not an ELF file")
	}
	if size >= 0 {
		info, err := f.Stat()
		if err != nil {
			return err
		}
		if info.Size() != size {
			return fmt.Errorf("testhost: decompressed payload has %d bytes, its trailer says %d", info.Size(), size)
		}
	}
	return nil
}
