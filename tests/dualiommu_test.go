package tests

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/notifier/eventlog"
	"github.com/govmm/govmm/tests/testhost"
)

// dualInit is /init for the guest with both IOMMUs: it loads virtio_iommu
// and virtio_blk, waits for the three disks, reports every PCI function's
// IOMMU group and IOMMU (the sysfs "iommu" link: dmar0 for VT-d, the
// virtio-iommu's virtio device under 00:02.0 for the other), the kernel's
// IOMMU lines, and then runs the O_DIRECT write/read/sha256 test on each
// disk, reporting the PCI function behind each block device.
const dualInit = initPrologue + `mount -t tmpfs tmpfs /tmp
dmesg -n 1
/load-modules.sh
for i in $(seq 1 30); do [ -b /dev/vda ] && [ -b /dev/vdb ] && [ -b /dev/vdc ] && break; sleep 1; done
echo "GOVMM-DUAL-INIT"
for d in /sys/bus/pci/devices/*; do
	g=$(readlink $d/iommu_group)
	i=$([ -e $d/iommu ] && readlink -f $d/iommu)
	t=$(cat $d/iommu_group/type 2>/dev/null)
	echo "@pci ${d##*/} group=${g##*/} type=$t iommu=$i"
done
# disktest DEV: write 64 MiB of random data with O_DIRECT, read it back,
# and report both checksums under the disk's PCI function.
disktest() {
	p=$(readlink -f /sys/block/$1/device)
	p=${p%/*}
	pci=${p##*/}
	dd if=/dev/urandom of=/tmp/src bs=1M count=64 2>/dev/null
	src=$(sha256sum /tmp/src | cut -d' ' -f1)
	dd if=/tmp/src of=/dev/$1 bs=1M oflag=direct 2>/dev/null; w=$?
	rm /tmp/src
	dd if=/dev/$1 of=/tmp/back bs=1M count=64 iflag=direct 2>/dev/null; r=$?
	back=$(sha256sum /tmp/back | cut -d' ' -f1)
	rm /tmp/back
	echo "@disk $pci dev=$1 write=$w read=$r src=$src back=$back"
}
for b in vda vdb vdc; do [ -b /dev/$b ] && disktest $b; done
echo "@dmesg-begin"
dmesg | grep -iE 'DMAR|iommu|virtio|vd[abc]'
echo "@dmesg-end"
echo "@poweroff"
poweroff -f
`

// dualDisk is one disk of the dual-IOMMU guest: its PCI function and
// requester ID, the iommu= option that places it, and its image in L1's
// tmpfs (blkImageSize bytes, of which the guest writes the first 64 MiB).
type dualDisk struct {
	pci   string // as sysfs names it
	sid   uint32
	iommu string // vtd, virtio or none
	image string
}

// dualDisks are the disks in slot order: 00:03.0 behind VT-d, 00:04.0
// behind the virtio-iommu, 00:05.0 behind neither.
var dualDisks = []dualDisk{
	{"0000:00:03.0", 0x18, "vtd", "/tmp/govmm-dual-vtd.img"},
	{"0000:00:04.0", 0x20, "virtio", "/tmp/govmm-dual-virtio.img"},
	{"0000:00:05.0", 0x28, "none", "/tmp/govmm-dual-none.img"},
}

// TestDualIOMMU boots Debian's 6.12 cloud kernel with intel_iommu=on under
// govmm with both IOMMUs, VT-d and virtio-iommu, and three virtio-blk
// disks: one behind each IOMMU and one behind neither (iommu=none), so the
// DMAR carries device scopes instead of INCLUDE_PCI_ALL and the VIOT names
// one endpoint. The guest must put the VT-d disk in an IOMMU group of
// dmar0 and the other in a group of the virtio-iommu, leave the third (and
// the virtio-iommu itself) outside every group, pass the O_DIRECT
// write/read/sha256 test on all three with the host's images agreeing, log
// no DMA fault, and the --iommu-events file must carry the MAPs and UNMAPs
// of both translated disks' I/O under their SIDs, and nothing for the
// third.
func TestDualIOMMU(t *testing.T) {
	h := testhost.New(t)
	args := []string{"--iommu", "vtd", "--iommu", "virtio", "--iommu-events", "dual-events.jsonl"}
	var setup, after []string
	for _, d := range dualDisks {
		args = append(args, "--disk", d.image+",iommu="+d.iommu)
		setup = append(setup, fmt.Sprintf("rm -f %s\ntruncate -s %d %s", d.image, blkImageSize, d.image))
		after = append(after, fmt.Sprintf("echo \"@image-sha %s $(head -c %d %s | sha256sum | cut -d' ' -f1)\"\nrm -f %s", d.pci, 64<<20, d.image, d.image))
	}
	g := testhost.Guest{
		VMM:     testhost.GoVMM,
		Kernel:  h.Kernel(testhost.KernelTrixieCloud),
		Init:    dualInit,
		Modules: []string{"virtio_iommu", "virtio_blk"},
		Cmdline: "console=ttyS0 panic=-1 intel_iommu=on iommu.strict=1",
		CPUs:    2, Memory: "512M",
		ExtraArgs: args,
		Setup:     strings.Join(setup, "\n"), After: strings.Join(after, "\n"),
		Marker: "GOVMM-DUAL-INIT", ExitMarker: "@poweroff", Timeout: 8 * time.Minute,
	}
	results, err := h.RunSeq(t.Context(), testhost.L1Options{}, g)
	if err != nil {
		t.Fatal(err)
	}
	res := results[0]
	t.Log(res.Summary())
	r := parseGuestReport(res.Serial)
	t.Logf("guest PCI view:\n%s", strings.Join(r.values["pci"], "\n"))
	t.Logf("guest disks:\n%s", strings.Join(r.values["disk"], "\n"))
	p := exitProblems(res)
	p = append(p, dualProblems(r, res.After)...)
	p = append(p, checkDualEvents(filepath.Join(res.L1.Work, "dual-events.jsonl"))...)
	if len(p) > 0 {
		t.Errorf("%s\n%s", strings.Join(p, "\n"), res.Tail(60))
	}
}

// fields parses "k=v k=v ..." after a leading word.
func fields(s string) (first string, kv map[string]string) {
	kv = map[string]string{}
	words := strings.Fields(s)
	if len(words) == 0 {
		return "", kv
	}
	for _, w := range words[1:] {
		k, v, _ := strings.Cut(w, "=")
		kv[k] = v
	}
	return words[0], kv
}

// viommuLink matches the sysfs iommu link of a virtio-iommu endpoint: the
// IOMMU device Linux 6.12 registers under the virtio device of 00:02.0,
// named after the PCI function
// (/sys/devices/pci0000:00/0000:00:02.0/virtio0/iommu/0000:00:02.0).
var viommuLink = regexp.MustCompile(`/0000:00:02\.0/virtio\d+/iommu/0000:00:02\.0$`)

// viommuFault matches the virtio-iommu driver's fault reports.
var viommuFault = regexp.MustCompile(`(?i)virtio_iommu.*fault`)

// dualProblems checks dualInit's report and the host's view of the images
// (after is the Guest.After output).
func dualProblems(r guestReport, after string) []string {
	var p []string
	pci := map[string]map[string]string{}
	for _, line := range r.values["pci"] {
		dev, kv := fields(line)
		pci[dev] = kv
	}
	groupOwner := map[string]string{} // group -> the IOMMU of its first member
	for _, d := range dualDisks {
		kv, ok := pci[d.pci]
		if !ok {
			p = append(p, fmt.Sprintf("%s missing from the guest's PCI devices", d.pci))
			continue
		}
		switch d.iommu {
		case "vtd":
			if kv["group"] == "" || !strings.HasSuffix(kv["iommu"], "/dmar0") {
				p = append(p, fmt.Sprintf("%s (iommu=vtd): group %q, iommu %q; want an IOMMU group of dmar0", d.pci, kv["group"], kv["iommu"]))
			}
		case "virtio":
			if kv["group"] == "" || !viommuLink.MatchString(kv["iommu"]) {
				p = append(p, fmt.Sprintf("%s (iommu=virtio): group %q, iommu %q; want an IOMMU group of the virtio-iommu at 00:02.0", d.pci, kv["group"], kv["iommu"]))
			}
		case "none":
			if kv["group"] != "" || kv["iommu"] != "" {
				p = append(p, fmt.Sprintf("%s (iommu=none): group %q, iommu %q; want no IOMMU", d.pci, kv["group"], kv["iommu"]))
			}
		}
		if d.iommu != "none" && kv["type"] != "DMA" {
			p = append(p, fmt.Sprintf("%s: IOMMU group type %q, want DMA (iommu.strict=1)", d.pci, kv["type"]))
		}
		if g := kv["group"]; g != "" {
			if o, dup := groupOwner[g]; dup {
				p = append(p, fmt.Sprintf("%s (%s) shares IOMMU group %s with a %s device", d.pci, d.iommu, g, o))
			}
			groupOwner[g] = d.iommu
		}
	}
	if kv := pci["0000:00:02.0"]; kv == nil || kv["group"] != "" {
		p = append(p, fmt.Sprintf("the virtio-iommu 00:02.0: %v; want it present and in no IOMMU group", kv))
	}

	disks := map[string]map[string]string{}
	for _, line := range r.values["disk"] {
		dev, kv := fields(line)
		disks[dev] = kv
	}
	host := map[string]string{}
	for _, line := range parseGuestReport(after).values[shaOfImage] {
		dev, sha, _ := strings.Cut(line, " ")
		host[dev] = sha
	}
	for _, d := range dualDisks {
		kv, ok := disks[d.pci]
		switch {
		case !ok:
			p = append(p, fmt.Sprintf("%s (iommu=%s): no disk test ran (no block device for it)", d.pci, d.iommu))
			continue
		case kv["write"] != "0" || kv["read"] != "0":
			p = append(p, fmt.Sprintf("%s (iommu=%s, %s): dd write %q, read %q; want 0", d.pci, d.iommu, kv["dev"], kv["write"], kv["read"]))
		case len(kv["src"]) != 64 || kv["back"] != kv["src"]:
			p = append(p, fmt.Sprintf("%s (iommu=%s): the guest read back %q, wrote %q", d.pci, d.iommu, kv["back"], kv["src"]))
		}
		if host[d.pci] != kv["src"] {
			p = append(p, fmt.Sprintf("%s (iommu=%s): the image in the test host has %q, the guest wrote %q", d.pci, d.iommu, host[d.pci], kv["src"]))
		}
	}

	log := strings.Join(r.dmesg, "\n")
	if !strings.Contains(log, "DMAR: Intel(R) Virtualization Technology for Directed I/O") {
		p = append(p, "the kernel did not enable VT-d:\n"+log)
	}
	for _, line := range r.dmesg {
		if strings.Contains(line, "DMAR: [DMA") || viommuFault.MatchString(line) {
			p = append(p, "DMA fault: "+line)
		}
	}
	return p
}

// checkDualEvents checks the --iommu-events file: every disk translated by
// an IOMMU mapped and unmapped at least the bytes the guest wrote and read
// (strict mode maps and unmaps each request), leaving out the identity map
// an address space has before the guest takes it over; the untranslated
// disk has no event at all.
func checkDualEvents(path string) []string {
	recs, err := readEventLog(path)
	if err != nil {
		return []string{err.Error()}
	}
	mapped, unmapped, all := map[uint32]uint64{}, map[uint32]uint64{}, map[uint32]int{}
	for _, r := range recs {
		all[r.Event.SID]++
		if r.Event.IOVA == 0 && r.Event.Size >= 1<<29 {
			continue
		}
		switch r.Event.Kind {
		case notifier.Map:
			mapped[r.Event.SID] += r.Event.Size
		case notifier.Unmap:
			unmapped[r.Event.SID] += r.Event.Size
		}
	}
	var p []string
	for _, d := range dualDisks {
		if d.iommu == "none" {
			if all[d.sid] != 0 {
				p = append(p, fmt.Sprintf("event log: %d events for SID %#x, which is behind no IOMMU", all[d.sid], d.sid))
			}
			continue
		}
		const want = 128 << 20 // 64 MiB written, 64 MiB read
		if mapped[d.sid] < want || unmapped[d.sid] < want {
			p = append(p, fmt.Sprintf("event log: %s (iommu=%s, SID %#x) mapped %d MiB and unmapped %d MiB, want at least %d MiB each",
				d.pci, d.iommu, d.sid, mapped[d.sid]>>20, unmapped[d.sid]>>20, want>>20))
		}
	}
	return p
}

// A good dualInit report, as the 6.12 guest prints it, and the host's
// image checksums.
var (
	dualSHA  = strings.Repeat("ab", 32)
	dualGood = "GOVMM-DUAL-INIT\n" +
		"@pci 0000:00:00.0 group= type= iommu=\n" +
		"@pci 0000:00:02.0 group= type= iommu=\n" +
		"@pci 0000:00:03.0 group=0 type=DMA iommu=/sys/devices/virtual/iommu/dmar0\n" +
		"@pci 0000:00:04.0 group=1 type=DMA iommu=/sys/devices/pci0000:00/0000:00:02.0/virtio0/iommu/0000:00:02.0\n" +
		"@pci 0000:00:05.0 group= type= iommu=\n" +
		"@disk 0000:00:03.0 dev=vda write=0 read=0 src=" + dualSHA + " back=" + dualSHA + "\n" +
		"@disk 0000:00:04.0 dev=vdb write=0 read=0 src=" + dualSHA + " back=" + dualSHA + "\n" +
		"@disk 0000:00:05.0 dev=vdc write=0 read=0 src=" + dualSHA + " back=" + dualSHA + "\n" +
		"@dmesg-begin\n[    1.0] DMAR: Intel(R) Virtualization Technology for Directed I/O\n@dmesg-end\n"
	dualAfter = "@image-sha 0000:00:03.0 " + dualSHA + "\n@image-sha 0000:00:04.0 " + dualSHA + "\n@image-sha 0000:00:05.0 " + dualSHA + "\n"
)

// TestDualChecks shows that TestDualIOMMU's checks pass a good report and
// catch each way the guest or the VMM could get the split wrong.
func TestDualChecks(t *testing.T) {
	tests := []struct {
		name     string
		from, to string // replace in the report
		after    string // "" = dualAfter
		want     string // problem substring; "" = passes
	}{
		{name: "good"},
		{name: "VT-d disk on the virtio-iommu", from: "group=0 type=DMA iommu=/sys/devices/virtual/iommu/dmar0",
			to: "group=0 type=DMA iommu=/sys/devices/pci0000:00/0000:00:02.0/virtio0/iommu/0000:00:02.0", want: "want an IOMMU group of dmar0"},
		{name: "virtio disk on VT-d", from: "iommu=/sys/devices/pci0000:00/0000:00:02.0/virtio0/iommu/0000:00:02.0",
			to: "iommu=/sys/devices/virtual/iommu/dmar0", want: "want an IOMMU group of the virtio-iommu"},
		{name: "virtio disk in no group", from: "group=1 type=DMA iommu=/sys/devices/pci0000:00/0000:00:02.0/virtio0/iommu/0000:00:02.0",
			to: "group= type= iommu=", want: "0000:00:04.0 (iommu=virtio): group \"\""},
		{name: "untranslated disk in a group", from: "@pci 0000:00:05.0 group= type= iommu=",
			to: "@pci 0000:00:05.0 group=2 type=DMA iommu=/sys/devices/virtual/iommu/dmar0", want: "want no IOMMU"},
		{name: "shared group", from: "group=1 type=DMA", to: "group=0 type=DMA", want: "shares IOMMU group 0"},
		{name: "passthrough group", from: "group=1 type=DMA", to: "group=1 type=identity", want: `type "identity", want DMA`},
		{name: "virtio-iommu translated", from: "@pci 0000:00:02.0 group= type=", to: "@pci 0000:00:02.0 group=5 type=", want: "the virtio-iommu 00:02.0"},
		{name: "no block device", from: "@disk 0000:00:04.0", to: "@nodisk 0000:00:04.0", want: "0000:00:04.0 (iommu=virtio): no disk test ran"},
		{name: "write failed", from: "dev=vdb write=0", to: "dev=vdb write=1", want: `dd write "1"`},
		{name: "read back differs", from: "dev=vdc write=0 read=0 src=" + dualSHA + " back=" + dualSHA, to: "dev=vdc write=0 read=0 src=" + dualSHA + " back=00",
			want: "0000:00:05.0 (iommu=none): the guest read back \"00\""},
		{name: "host image differs", after: strings.Replace(dualAfter, "0000:00:03.0 "+dualSHA, "0000:00:03.0 00", 1), want: "the image in the test host has \"00\""},
		{name: "DMA fault", from: "@dmesg-end", to: "[ 2.0] DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x1000\n@dmesg-end", want: "DMA fault: "},
		{name: "virtio-iommu fault", from: "@dmesg-end", to: "[ 2.0] virtio_iommu virtio0: fault from EP 32\n@dmesg-end", want: "DMA fault: "},
		{name: "VT-d off", from: "DMAR: Intel(R) Virtualization", to: "DMAR: IOMMU disabled", want: "did not enable VT-d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			report := dualGood
			if tt.from != "" {
				if !strings.Contains(report, tt.from) {
					t.Fatalf("report lacks %q", tt.from)
				}
				report = strings.Replace(report, tt.from, tt.to, 1)
			}
			after := dualAfter
			if tt.after != "" {
				after = tt.after
			}
			p := strings.Join(dualProblems(parseGuestReport(report), after), "\n")
			if tt.want == "" && p != "" || tt.want != "" && !strings.Contains(p, tt.want) {
				t.Errorf("problems:\n%s\nwant %q", p, tt.want)
			}
		})
	}
}

// TestDualEventChecks shows that checkDualEvents wants 128 MiB of MAPs
// and UNMAPs of each translated disk, ignores the pre-translation identity
// maps, and refuses any event of the untranslated disk.
func TestDualEventChecks(t *testing.T) {
	io := func(sid uint32, mib int) []notifier.Event {
		var evs []notifier.Event
		for i := range mib {
			iova := uint64(0xfff00000) - uint64(i)<<20
			evs = append(evs, notifier.Event{Kind: notifier.Map, SID: sid, IOVA: iova, Size: 1 << 20, Addr: 1 << 24, Perm: notifier.PermRW},
				notifier.Event{Kind: notifier.Unmap, SID: sid, IOVA: iova, Size: 1 << 20})
		}
		return evs
	}
	identity := func(sid uint32) notifier.Event {
		return notifier.Event{Kind: notifier.Map, SID: sid, IOVA: 0, Size: 1 << 39, Addr: 0, Perm: notifier.PermRW}
	}
	tests := []struct {
		name   string
		events []notifier.Event
		want   []string
	}{
		{"good", append(append([]notifier.Event{identity(0x18), identity(0x20)}, io(0x18, 128)...), io(0x20, 128)...), nil},
		{"virtio disk idle", append([]notifier.Event{identity(0x20)}, io(0x18, 128)...), []string{"SID 0x20) mapped 0 MiB"}},
		{"identity maps only", []notifier.Event{identity(0x18), identity(0x20)}, []string{"SID 0x18) mapped 0 MiB", "SID 0x20) mapped 0 MiB"}},
		{"too little", append(io(0x18, 127), io(0x20, 128)...), []string{"SID 0x18) mapped 127 MiB"}},
		{"untranslated disk", append(append(io(0x18, 128), io(0x20, 128)...), io(0x28, 1)...), []string{"2 events for SID 0x28"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			l, err := eventlog.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range tt.events {
				if err := l.Notify(ev); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			p := checkDualEvents(path)
			if len(p) != len(tt.want) {
				t.Fatalf("problems %q, want %d containing %q", p, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(p[i], w) {
					t.Errorf("problem %q lacks %q", p[i], w)
				}
			}
		})
	}
	if p := checkDualEvents(filepath.Join(t.TempDir(), "missing.jsonl")); len(p) != 1 {
		t.Errorf("missing event log: problems %q, want one", p)
	}
}
