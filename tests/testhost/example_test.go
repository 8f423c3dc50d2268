package testhost_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"log"
	"strings"

	"github.com/govmm/govmm/tests/testhost"
)

func ExampleDebianURI() {
	sources := `Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
`
	uri, err := testhost.DebianURI([]byte(sources))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(uri)
	// Output: http://deb.debian.org/debian
}

func ExampleLocatePayload() {
	// A bzImage: 1+setup_sects sectors of real-mode setup with the boot
	// protocol header, then the protected-mode code that ends in the
	// compressed kernel.
	var elf bytes.Buffer
	zw := gzip.NewWriter(&elf)
	zw.Write([]byte("\x7fELF: the kernel"))
	zw.Close()
	img := make([]byte, 5*512+64)
	img[0x1f1] = 4 // setup_sects
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x020f)            // protocol 2.15
	binary.LittleEndian.PutUint32(img[0x248:], 64)                // payload_offset
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(elf.Len())) // payload_length
	img = append(img, elf.Bytes()...)

	p, err := testhost.LocatePayload(img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s payload at %#x, %d bytes uncompressed\n", p.Compression, p.Offset, p.Size)
	// Output: gzip payload at 0xa40, 16 bytes uncompressed
}

func ExampleNewcWriter() {
	var buf bytes.Buffer
	w := testhost.NewNewcWriter(&buf)
	w.Dir("dev", 0o755)
	w.CharDev("dev/console", 0o600, 5, 1)
	w.File("init", 0o755, []byte("#!/bin/sh\necho hello\npoweroff -f\n"))
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.Count(buf.String(), "070701"), "headers,", buf.Len()%4 == 0)
	// Output: 4 headers, true
}

// A test boots a guest with govmm and with QEMU. Outside tests, Open
// takes the place of New.
func ExampleHost_Run() {
	cfg, err := testhost.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	h, err := testhost.Open(context.Background(), cfg, log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	for _, vmm := range []testhost.VMM{testhost.GoVMM, testhost.QEMU} {
		res, err := h.Run(context.Background(), testhost.Guest{
			VMM:        vmm,
			Kernel:     h.Kernel(testhost.KernelTrixieCloud),
			Init:       "#!/bin/sh\necho HELLO-FROM-L2\npoweroff -f\n",
			Cmdline:    "console=ttyS0 panic=-1 quiet",
			Marker:     "HELLO-FROM-L2",
			ExitMarker: "HELLO-FROM-L2",
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Summary())
	}
}
