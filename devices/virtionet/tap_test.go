package virtionet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/govmm/govmm/devices/virtionet"
	"golang.org/x/sys/unix"
)

// tapEnv is a fresh network namespace holding the tap interface of a
// device and a packet socket bound to it.
type tapEnv struct {
	n        *virtionet.Net
	pkt      int   // AF_PACKET socket on the tap
	pktVnet  int   // AF_PACKET socket on the tap with PACKET_VNET_HDR (sends GSO frames)
	noVnet   error // New's error for a tap without IFF_VNET_HDR
	fromFile *virtionet.Net
	err      error
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// newTapEnv creates the namespace on a thread of its own (the thread is
// never returned to the scheduler, so it dies with the goroutine; the
// namespace lives on through the descriptors).
func newTapEnv() tapEnv {
	ch := make(chan tapEnv)
	go func() {
		runtime.LockOSThread()
		var e tapEnv
		defer func() { ch <- e }()
		if e.err = unix.Unshare(unix.CLONE_NEWNET); e.err != nil {
			return
		}
		if e.n, e.err = virtionet.Open("gvtap0", virtionet.Options{}); e.err != nil {
			return
		}
		s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			e.err = err
			return
		}
		defer unix.Close(s)
		ifr, _ := unix.NewIfreq("gvtap0")
		if e.err = unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); e.err != nil {
			return
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP | unix.IFF_NOARP)
		if e.err = unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); e.err != nil {
			return
		}
		idx, _ := unix.NewIfreq("gvtap0")
		if e.err = unix.IoctlIfreq(s, unix.SIOCGIFINDEX, idx); e.err != nil {
			return
		}
		if e.pkt, e.err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL))); e.err != nil {
			return
		}
		if e.err = unix.Bind(e.pkt, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: int(idx.Uint32())}); e.err != nil {
			return
		}
		if e.pktVnet, e.err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); e.err != nil {
			return
		}
		if e.err = unix.SetsockoptInt(e.pktVnet, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); e.err != nil {
			return
		}
		if e.err = unix.Bind(e.pktVnet, &unix.SockaddrLinklayer{Ifindex: int(idx.Uint32())}); e.err != nil {
			return
		}
		// New on taps opened by hand: without and with IFF_VNET_HDR.
		for _, tc := range []struct {
			name  string
			flags uint16
		}{{"gvtap1", unix.IFF_TAP | unix.IFF_NO_PI}, {"gvtap2", unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR}} {
			fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				e.err = err
				return
			}
			r, _ := unix.NewIfreq(tc.name)
			r.SetUint16(tc.flags)
			if e.err = unix.IoctlIfreq(fd, unix.TUNSETIFF, r); e.err != nil {
				return
			}
			n, err := virtionet.New(os.NewFile(uintptr(fd), "/dev/net/tun"), virtionet.Options{})
			if tc.flags&unix.IFF_VNET_HDR == 0 {
				e.noVnet = err
				if n != nil {
					n.Close()
				}
				continue
			}
			if e.fromFile, e.err = n, err; err != nil {
				return
			}
		}
	}()
	return <-ch
}

// TestTap runs the device on a real tap in a private network namespace:
// frames the guest sends appear on the interface, frames sent on the
// interface reach the guest, with the offloads negotiated.
func TestTap(t *testing.T) {
	e := newTapEnv()
	if errors.Is(e.err, unix.EPERM) {
		t.Fatal("creating a network namespace and a tap needs CAP_SYS_ADMIN and CAP_NET_ADMIN: run the tests as root")
	}
	if e.n != nil {
		defer e.n.Close()
	}
	if e.fromFile != nil {
		defer e.fromFile.Close()
	}
	for _, fd := range []int{e.pkt, e.pktVnet} {
		if fd > 0 {
			defer unix.Close(fd)
		}
	}
	if e.err != nil {
		t.Fatal(e.err)
	}
	if e.noVnet == nil || !strings.Contains(e.noVnet.Error(), "IFF_VNET_HDR") {
		t.Errorf("New on a tap without IFF_VNET_HDR: %v", e.noVnet)
	}
	if e.fromFile.Name() != "gvtap2" {
		t.Errorf("New on a tap: name %q", e.fromFile.Name())
	}
	if e.n.Name() != "gvtap0" || e.n.MAC().String() != virtionet.DefaultMAC("gvtap0").String() {
		t.Errorf("name %q, MAC %v", e.n.Name(), e.n.MAC())
	}
	r := attach(t, e.n, setup{})
	r.postLinux(t, 128)

	// Guest to host.
	out := frame(600, 1)
	copy(out, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	r.transmit(t, hdrBytes(virtionet.Header{}), out, []int{12}, false)
	buf := make([]byte, 1<<16)
	for {
		n, err := unix.Read(e.pkt, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 14 && binary.BigEndian.Uint16(buf[12:]) == etherType {
			if !bytes.Equal(buf[:n], out) {
				t.Fatalf("interface saw %d bytes, want the guest's %d", n, len(out))
			}
			break
		}
	}

	// Host to guest, through the kernel's transmit path into the tap.
	in := frame(1200, 2)
	copy(in, []byte{0x02, 0, 0, 0, 0, 9})
	if _, err := unix.Write(e.pkt, in); err != nil {
		t.Fatal(err)
	}
	for {
		got := r.receive(t)
		if len(got.frame) >= 14 && binary.BigEndian.Uint16(got.frame[12:]) == etherType {
			if !bytes.Equal(got.frame, in) {
				t.Fatalf("guest got %d bytes, want %d", len(got.frame), len(in))
			}
			if got.hdr.GSOType != virtionet.GSONone || got.hdr.NumBuffers != 1 {
				t.Fatalf("header %+v", got.hdr)
			}
			break
		}
		r.postLinux(t, 1) // some other frame (the kernel's own): replace its buffer
	}

	// TCP segmentation offload, guest to host: the tap takes the 64 KiB
	// class frame with its partial checksum as one GSO packet.
	tso := virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	big := tcpFrame(20000)
	if _, _, err := r.tx.Wait(); err != nil { // the first frame, counted
		t.Fatal(err)
	}
	before := e.n.Stats()
	r.transmit(t, hdrBytes(tso), big, []int{virtionet.HeaderSize, 54}, false)
	for {
		n, err := unix.Read(e.pkt, buf)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(buf[:n], big) {
			break
		}
	}
	if _, _, err := r.tx.Wait(); err != nil { // used: counted before
		t.Fatal(err)
	}
	if st := e.n.Stats(); st.TxFrames != before.TxFrames+1 || st.TxDropped != before.TxDropped {
		t.Fatalf("TSO frame: stats %+v", st)
	}

	// And host to guest: a GSO packet sent on the interface reaches the
	// tap unsegmented (TUNSETOFFLOAD followed GUEST_TSO4) and the guest
	// gets it in merged buffers with its GSO header.
	vnet := hdrBytes(tso)[:10] // struct virtio_net_hdr without num_buffers
	if _, err := unix.Write(e.pktVnet, append(vnet, big...)); err != nil {
		t.Fatal(err)
	}
	r.postLinux(t, 64)
	for {
		got := r.receive(t)
		if len(got.frame) < 14 || binary.BigEndian.Uint16(got.frame[12:]) != 0x0800 {
			r.postLinux(t, len(got.lens))
			continue
		}
		if !bytes.Equal(got.frame, big) {
			t.Fatalf("guest got %d bytes, want %d", len(got.frame), len(big))
		}
		if got.hdr.GSOType != virtionet.GSOTCPv4 || got.hdr.GSOSize != 1448 || got.hdr.Flags&virtionet.HdrFNeedsCsum == 0 ||
			int(got.hdr.NumBuffers) != len(got.lens) || len(got.lens) < 2 {
			t.Fatalf("header %+v in %d buffers", got.hdr, len(got.lens))
		}
		break
	}
	if errs := r.errors(); len(errs) != 0 {
		t.Fatal(errs)
	}
}

// tcpFrame returns an Ethernet frame of n bytes holding an IPv4 TCP
// segment (no options) whose checksum is left to the offload.
func tcpFrame(n int) []byte {
	f := make([]byte, n)
	copy(f, []byte{0x02, 0, 0, 0, 0, 9, 0x02, 0, 0, 0, 0, 8, 0x08, 0x00})
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(n-14))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp, 40000)
	binary.BigEndian.PutUint16(tcp[2:], 5001)
	tcp[12], tcp[13] = 0x50, 0x18 // 20-byte header; PSH, ACK
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	for i := 20; i < len(tcp); i++ {
		tcp[i] = byte(i)
	}
	return f
}
