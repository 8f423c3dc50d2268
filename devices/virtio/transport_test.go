package virtio_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
)

// TestEcho drives the echo device like Linux would, over three address
// spaces, with direct and indirect chains, and checks every byte the
// device wrote and the interrupts it sent.
func TestEcho(t *testing.T) {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 4096, 7)
	tests := []struct {
		name     string
		dev, drv dma.AddressSpace
		iova     uint64
	}{
		{"identity", nil, nil, 0},
		{"page permutation", perm, perm, iovaBase},
		{"offset", virtiotest.Offset{Delta: iovaBase}, virtiotest.Offset{Delta: iovaBase}, iovaBase + 16<<20},
	}
	for _, tc := range tests {
		for _, indirect := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/indirect=%v", tc.name, indirect), func(t *testing.T) {
				counting := &virtiotest.Counting{AS: tc.dev}
				cfg := virtio.Config{}
				if tc.dev != nil {
					cfg.DMA = counting
				}
				r := newRig(t, newEcho(), cfg, tc.drv, tc.iova)
				qs := r.start(t, allFeatures)
				if tc.dev != nil && r.drv.Features&virtio.FeatureAccessPlatform == 0 {
					t.Fatal("ACCESS_PLATFORM not negotiated behind an IOMMU")
				}
				for i, size := range []int{1, 17, 4096, 9000} {
					in := make([]byte, size)
					for j := range in {
						in[j] = byte(j*7 + i)
					}
					// Split the input over two readable buffers and the
					// output over three writable ones, of odd sizes.
					bufs := []virtiotest.Buf{
						{Data: in[:size/2]}, {Data: in[size/2:]},
						{Write: true, Len: uint32(size / 3)}, {Write: true, Len: 1}, {Write: true, Len: uint32(size - size/3 - 1 + 5)},
					}
					n, err := qs[0].Submit(bufs, indirect)
					if err != nil {
						t.Fatal(err)
					}
					if n != uint32(size) {
						t.Fatalf("request %d: used length %d, want %d", i, n, size)
					}
					var out []byte
					for _, b := range bufs[2:] {
						p, err := qs[0].Contents(b)
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, p...)
					}
					want := bytes.Clone(in)
					for a, b := 0, len(want)-1; a < b; a, b = a+1, b-1 {
						want[a], want[b] = want[b], want[a]
					}
					if !bytes.Equal(out[:size], want) {
						t.Fatalf("request %d: device wrote the wrong bytes", i)
					}
					if !bytes.Equal(out[size:], bytes.Repeat([]byte{virtiotest.Poison}, 5)) {
						t.Fatalf("request %d: device wrote past the used length: % x", i, out[size:])
					}
				}
				if got := r.m.MSI.Count(1); got < 1 {
					t.Errorf("queue vector fired %d times", got)
				}
				if reads, writes := counting.Counts(); tc.dev != nil && (reads == 0 || writes == 0) {
					t.Errorf("translations: %d reads, %d writes; want both", reads, writes)
				}
				if errs := r.errors(); len(errs) != 0 {
					t.Errorf("errors reported: %v", errs)
				}
			})
		}
	}
}

// TestFeatureNegotiation checks what the device accepts at FEATURES_OK.
func TestFeatureNegotiation(t *testing.T) {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 256, 1)
	tests := []struct {
		name   string
		cfg    virtio.Config
		drvAS  dma.AddressSpace
		iova   uint64
		want   uint64
		ok     bool
		offer  uint64 // bits that must be offered
		absent uint64 // bits that must not be offered
	}{
		{"all", virtio.Config{}, nil, 0, allFeatures, true,
			virtio.FeatureVersion1 | virtio.FeatureEventIdx | virtio.FeatureIndirectDesc | 1, virtio.FeatureAccessPlatform | virtio.FeatureRingPacked},
		{"no VERSION_1", virtio.Config{}, nil, 0, allFeatures &^ virtio.FeatureVersion1, false, 0, 0},
		{"behind IOMMU without ACCESS_PLATFORM", virtio.Config{DMA: perm}, perm, iovaBase, allFeatures &^ virtio.FeatureAccessPlatform, false, virtio.FeatureAccessPlatform, 0},
		{"behind IOMMU", virtio.Config{DMA: perm}, perm, iovaBase, allFeatures, true, virtio.FeatureAccessPlatform, 0},
		{"ACCESS_PLATFORM offered, declined", virtio.Config{AccessPlatform: true}, nil, 0, allFeatures &^ virtio.FeatureAccessPlatform, true, virtio.FeatureAccessPlatform, 0},
		{"EVENT_IDX disabled", virtio.Config{DisableFeatures: virtio.FeatureEventIdx | virtio.FeatureVersion1}, nil, 0, allFeatures, true, virtio.FeatureVersion1, virtio.FeatureEventIdx},
		{"minimal", virtio.Config{}, nil, 0, virtio.FeatureVersion1, true, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, newEcho(), tc.cfg, tc.drvAS, tc.iova)
			offered := r.drv.Offered()
			if offered&tc.offer != tc.offer || offered&tc.absent != 0 {
				t.Fatalf("offered %s", virtio.FeatureString(offered))
			}
			_, err := r.drv.Init(tc.want)
			if (err == nil) != tc.ok {
				t.Fatalf("Init: %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				if !errors.Is(err, virtiotest.ErrFeaturesRejected) || len(r.errors()) == 0 {
					t.Fatalf("Init: %v; reported %v", err, r.errors())
				}
				return
			}
			q, err := r.drv.SetupQueue(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			r.drv.DriverOK()
			if _, err := q.Submit([]virtiotest.Buf{{Data: []byte("ab")}, {Write: true, Len: 2}}, false); err != nil {
				t.Fatal(err)
			}
			if got := r.t.Negotiated(); got != tc.want&offered {
				t.Fatalf("negotiated %s, want %s", virtio.FeatureString(got), virtio.FeatureString(tc.want&offered))
			}
		})
	}
}

// TestUnofferedFeature: a driver that accepts a bit the device did not
// offer does not get FEATURES_OK.
func TestUnofferedFeature(t *testing.T) {
	r := newRig(t, newEcho(), virtio.Config{}, nil, 0)
	d := r.drv
	d.Reset()
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	d.Write(d.Common+virtio.CommonDriverFeatureSelect, 4, 1)
	d.Write(d.Common+virtio.CommonDriverFeature, 4, (virtio.FeatureVersion1|virtio.FeatureRingPacked)>>32)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
	if s := d.Status(); s&virtio.StatusFeaturesOK != 0 {
		t.Fatalf("status %s: FEATURES_OK accepted with RING_PACKED", virtio.StatusString(s))
	}
	if errs := r.errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "RING_PACKED") {
		t.Fatalf("reported %v", errs)
	}
}

// TestReset: writing 0 to device_status stops the queue goroutines,
// resets the device and every register, and the device can be brought
// up again.
func TestReset(t *testing.T) {
	dev := newEcho(256, 64)
	r := newRig(t, dev, virtio.Config{}, nil, 0)
	for round := range 3 {
		qs := r.start(t, allFeatures)
		for _, q := range qs {
			if _, err := q.Submit([]virtiotest.Buf{{Data: []byte{byte(round)}}, {Write: true, Len: 1}}, false); err != nil {
				t.Fatal(err)
			}
		}
		processed := dev.processed.Load()
		r.drv.Reset()
		if got := dev.resets.Load(); got != int32(2*(round+1)) { // Init resets too
			t.Fatalf("round %d: device reset %d times", round, got)
		}
		// After the reset the goroutines are gone: a kick is not served.
		if _, err := qs[0].Add([]virtiotest.Buf{{Data: []byte{1}}, {Write: true, Len: 1}}, false); err != nil {
			t.Fatal(err)
		}
		qs[0].Kick()
		if got := dev.processed.Load(); got != processed {
			t.Fatalf("round %d: %d requests processed after reset", round, got-processed)
		}
		d := r.drv
		checks := []struct {
			name string
			off  uint64
			n    int
			want uint64
		}{
			{"device_status", virtio.CommonDeviceStatus, 1, 0},
			{"config_msix_vector", virtio.CommonConfigMSIXVector, 2, virtio.NoVector},
			{"queue_select", virtio.CommonQueueSelect, 2, 0},
			{"queue_size", virtio.CommonQueueSize, 2, 256},
			{"queue_msix_vector", virtio.CommonQueueMSIXVector, 2, virtio.NoVector},
			{"queue_enable", virtio.CommonQueueEnable, 2, 0},
			{"queue_desc", virtio.CommonQueueDesc, 8, 0},
			{"driver_feature", virtio.CommonDriverFeature, 4, 0},
		}
		for _, c := range checks {
			if got := d.Read(d.Common+c.off, c.n); got != c.want {
				t.Errorf("round %d: %s = %#x after reset, want %#x", round, c.name, got, c.want)
			}
		}
		if d.ReadISR() != 0 {
			t.Errorf("round %d: ISR not cleared by reset", round)
		}
	}
	if got := dev.activated.Load(); got != 3 {
		t.Fatalf("activated %d times, want 3", got)
	}
}

// TestCommonConfig checks the register file's rules.
func TestCommonConfig(t *testing.T) {
	r := newRig(t, newEcho(128, 32, 16), virtio.Config{}, nil, 0)
	d := r.drv
	c := d.Common
	if _, err := d.Init(allFeatures); err != nil {
		t.Fatal(err)
	}
	if got := d.Read(c+virtio.CommonNumQueues, 2); got != 3 {
		t.Errorf("num_queues = %d", got)
	}
	tests := []struct {
		name     string
		sel      uint64
		writeOff uint64
		writeN   int
		writeVal uint64
		readOff  uint64
		readN    int
		want     uint64
	}{
		{"max size queue 1", 1, virtio.CommonQueueSelect, 2, 1, virtio.CommonQueueSize, 2, 32},
		{"absent queue size", 7, virtio.CommonQueueSelect, 2, 7, virtio.CommonQueueSize, 2, 0},
		{"absent queue vector write ignored", 7, virtio.CommonQueueMSIXVector, 2, 1, virtio.CommonQueueMSIXVector, 2, 0},
		{"notify_off", 2, virtio.CommonQueueSelect, 2, 2, virtio.CommonQueueNotifyOff, 2, 2},
		{"notify_data", 2, virtio.CommonQueueSelect, 2, 2, virtio.CommonQueueNotifyData, 2, 2},
		{"vector beyond the table", 0, virtio.CommonQueueMSIXVector, 2, 4, virtio.CommonQueueMSIXVector, 2, virtio.NoVector},
		{"vector in the table", 0, virtio.CommonQueueMSIXVector, 2, 3, virtio.CommonQueueMSIXVector, 2, 3},
		{"config vector beyond", 0, virtio.CommonConfigMSIXVector, 2, 100, virtio.CommonConfigMSIXVector, 2, virtio.NoVector},
		{"queue_desc 64-bit write", 1, virtio.CommonQueueDesc, 8, 0x1234_5678_9abc_def0, virtio.CommonQueueDesc, 8, 0x1234_5678_9abc_def0},
		{"queue_desc high half", 1, virtio.CommonQueueDesc + 4, 4, 0x55, virtio.CommonQueueDesc, 8, 0x55_9abc_def0},
		{"driver features frozen after FEATURES_OK", 0, virtio.CommonDriverFeature, 4, 0, virtio.CommonDriverFeature, 4, d.Features & 0xffffffff},
		{"device_feature select 2", 0, virtio.CommonDeviceFeatureSelect, 4, 2, virtio.CommonDeviceFeature, 4, 0},
		{"queue_reset reads 0", 0, virtio.CommonQueueReset, 2, 1, virtio.CommonQueueReset, 2, 0},
		{"status cannot set NEEDS_RESET", 0, virtio.CommonDeviceStatus, 1, 0xff &^ uint64(virtio.StatusDriverOK), virtio.CommonDeviceStatus, 1, 0xff &^ uint64(virtio.StatusDriverOK|virtio.StatusDeviceNeedsReset)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d.Write(c+virtio.CommonQueueSelect, 2, tc.sel)
			d.Write(c+virtio.CommonDriverFeatureSelect, 4, 0)
			d.Write(c+tc.writeOff, tc.writeN, tc.writeVal)
			if got := d.Read(c+tc.readOff, tc.readN); got != tc.want {
				t.Fatalf("read %#x, want %#x", got, tc.want)
			}
		})
	}
	// Queue fields are frozen while the queue is enabled.
	q, err := d.SetupQueue(0, 64)
	if err != nil {
		t.Fatal(err)
	}
	d.Write(c+virtio.CommonQueueSelect, 2, 0)
	d.Write(c+virtio.CommonQueueSize, 2, 16)
	d.Write(c+virtio.CommonQueueDesc, 4, 0)
	d.Write(c+virtio.CommonQueueDesc+4, 4, 0)
	if got := d.Read(c+virtio.CommonQueueSize, 2); got != 64 {
		t.Errorf("queue_size of an enabled queue changed to %d", got)
	}
	if got := d.Read(c+virtio.CommonQueueDesc, 8); got != q.Desc {
		t.Errorf("queue_desc of an enabled queue changed to %#x", got)
	}
	// Accesses outside every structure read 0 and are ignored.
	if got := d.Read(d.Bar+0xf00, 4); got != 0 {
		t.Errorf("gap reads %#x", got)
	}
	if got := d.Read(c+virtio.CommonCfgSize-2, 4); got != 0 {
		t.Errorf("access straddling the end of common config reads %#x", got)
	}
}
