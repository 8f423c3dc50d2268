package vtd

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/notifier/checker"
)

// shadowCheck holds the consumers a property test registers on one
// address space: a VFIO type1 v2 container registered the way QEMU's VFIO
// listener does (two ranges around the interrupt window) and an iommufd
// IOAS over the whole space.
type shadowCheck struct {
	as    *AddressSpace
	type1 *checker.Type1
	fd    *checker.IOMMUFD
}

func newShadowCheck(t *testing.T, as *AddressSpace) *shadowCheck {
	t.Helper()
	c := &shadowCheck{
		as:    as,
		type1: &checker.Type1{Reserved: []checker.Range{checker.X86MSIWindow}, Limit: 1 << 20},
		fd:    &checker.IOMMUFD{Reserved: []checker.Range{checker.X86MSIWindow}},
	}
	for _, r := range []checker.Range{{First: 0, Last: InterruptRangeFirst - 0x100000 - 1}, {First: InterruptRangeLast + 0x100000 + 1, Last: ^uint64(0)}} {
		if _, err := as.Register(c.type1, notifier.Map|notifier.Unmap, r.First, r.Last); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := as.Register(c.fd, notifier.Map|notifier.Unmap, 0, ^uint64(0)); err != nil {
		t.Fatal(err)
	}
	return c
}

// verify compares both consumers with the reference walk of dom (nil: the
// device has no translation) and checks that neither refused an event.
func (c *shadowCheck) verify(t *testing.T, d *linuxDriver, dom *simDomain, step string) {
	t.Helper()
	if err := c.type1.Err(); err != nil {
		t.Fatalf("%s: type1 refused an event: %v", step, err)
	}
	if err := c.fd.Err(); err != nil {
		t.Fatalf("%s: iommufd refused an event: %v", step, err)
	}
	var want []refLeaf
	if dom != nil {
		want = coalesce(d.refWalk(dom))
	}
	for name, ms := range map[string][]checker.Mapping{"type1": c.type1.Mappings(), "iommufd": c.fd.Mappings()} {
		var got []refLeaf
		for _, m := range checker.Coalesce(ms) {
			got = append(got, refLeaf{iova: m.IOVA, size: m.Size, gpa: m.Addr, perm: uint64(m.Perm)})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: %s holds\n%v\nthe guest tables map\n%v", step, name, got, want)
		}
	}
}

// checkTranslate compares Translate with the reference walk at iova.
func checkTranslate(t *testing.T, d *linuxDriver, as *AddressSpace, dom *simDomain, iova uint64, step string) {
	t.Helper()
	var want refLeaf
	ok := false
	if dom != nil {
		want, ok = d.leafAt(dom, iova)
	}
	gpa, _, err := as.Translate(iova, 1, dma.Read)
	switch {
	case ok && want.perm&slR != 0:
		if err != nil || gpa != want.gpa+iova-want.iova {
			t.Fatalf("%s: Translate(%#x) = %#x, %v; tables map %v", step, iova, gpa, err, want)
		}
	default:
		var f *dma.Fault
		if !errors.As(err, &f) {
			t.Fatalf("%s: Translate(%#x) = %#x, %v; want a fault (leaf %v, %v)", step, iova, gpa, err, want, ok)
		}
	}
}

// randomMapping picks a page size, an aligned IOVA range below 16 GiB that
// avoids the interrupt window, and an aligned GPA at or above 4 GiB.
func randomMapping(rng *rand.Rand) (iova, gpa, size, pageSize uint64) {
	sizes := []uint64{4 << 10, 4 << 10, 4 << 10, 2 << 20, 2 << 20, 1 << 30}
	pageSize = sizes[rng.IntN(len(sizes))]
	n := uint64(1 + rng.IntN(4))
	if pageSize == 1<<30 {
		n = 1
	}
	size = n * pageSize
	for {
		iova = rng.Uint64N(16<<30) &^ (pageSize - 1)
		if !overlapsInterruptRange(iova, iova+size-1) {
			break
		}
	}
	gpa = 4<<30 + rng.Uint64N(60<<30)&^(pageSize-1)
	return iova, gpa, size, pageSize
}

func TestShadowPropertyLinux(t *testing.T) {
	for _, ver := range []linuxVersion{linux61, linux612} {
		for seed := uint64(1); seed <= 4; seed++ {
			t.Run(fmt.Sprintf("linux%d/seed%d", ver, seed), func(t *testing.T) {
				shadowProperty(t, ver, seed, 250)
			})
		}
	}
}

func shadowProperty(t *testing.T, ver linuxVersion, seed uint64, steps int) {
	e := newEnv(t, DefaultConfig(), 8<<20)
	d := newLinuxDriver(e, ver)
	d.enable()
	doms := []*simDomain{d.newDomain(4), d.newDomain(4), d.newDomain(3)}
	dev := sid(0, 3, 0)
	d.attach(dev, doms[0])
	d.translate(true)
	as := e.u.AddressSpace(dev)
	c := newShadowCheck(t, as)
	rng := rand.New(rand.NewPCG(seed, uint64(ver)))
	cur := doms[0]
	c.verify(t, d, cur, "start")
	for i := 0; i < steps; i++ {
		var step string
		switch op := rng.IntN(24); {
		case op >= 20: // overwrite present entries in place, then PSI (spec-valid, not Linux)
			dom := cur
			if dom == nil {
				dom = doms[0]
			}
			iova, gpa, size, ps := randomMapping(rng)
			if dom.levels == 3 {
				iova &= 1<<39 - 1
			}
			if ls := d.refWalk(dom); len(ls) > 0 && rng.IntN(2) == 0 {
				// Land on an existing leaf, possibly with another page size.
				iova = ls[rng.IntN(len(ls))].iova &^ (ps - 1)
				size = ps
			}
			d.mapRange(dom, iova, gpa, size, ps, slR|slW)
			if !d.cm() {
				d.flushRange(dom, iova, iova+size-1, true)
			}
			step = fmt.Sprintf("step %d: overwrite did %d [%#x,+%#x) -> %#x pages %#x", i, dom.did, iova, size, gpa, ps)
		case op < 10: // map, replacing what overlaps (a remap)
			dom := doms[rng.IntN(len(doms))]
			if dom.levels == 3 || rng.IntN(3) > 0 {
				dom = cur
			}
			if dom == nil {
				dom = doms[0]
			}
			iova, gpa, size, ps := randomMapping(rng)
			if dom.levels == 3 {
				iova &= 1<<39 - 1
			}
			perm := []uint64{slR, slW, slR | slW, slR | slW}[rng.IntN(4)]
			d.unmapRange(dom, iova, size)
			d.mapRange(dom, iova, gpa, size, ps, perm)
			step = fmt.Sprintf("step %d: map did %d [%#x,+%#x) -> %#x pages %#x perm %d", i, dom.did, iova, size, gpa, ps, perm)
		case op < 16: // unmap a random range: partial overlaps widen to whole leaves
			dom := cur
			if dom == nil || rng.IntN(4) == 0 {
				dom = doms[rng.IntN(len(doms))]
			}
			iova := rng.Uint64N(16<<30) &^ 0xfff
			size := []uint64{4 << 10, 64 << 10, 2 << 20, 3 << 20, 1 << 30}[rng.IntN(5)]
			if dom.levels == 3 {
				iova &= 1<<39 - 1
			}
			f, l := d.unmapRange(dom, iova, size)
			step = fmt.Sprintf("step %d: unmap did %d [%#x,+%#x) widened to [%#x,%#x]", i, dom.did, iova, size, f, l)
		case op < 18: // domain switch the Linux way: detach, then attach
			next := doms[rng.IntN(len(doms))]
			d.attach(dev, next)
			cur = next
			step = fmt.Sprintf("step %d: attach to did %d", i, next.did)
		case op < 19: // domain switch in place: present to present, then invalidate
			next := doms[rng.IntN(len(doms))]
			old := d.attached[dev]
			e.setContext(d.root, dev, ctxLo(next.pgd, ttMultiLevel, false), ctxHi(uint8(next.levels-2), next.did))
			if old != nil {
				d.flush(ccDevice(old.did, dev, 0), iotlbDSI(old.did))
			} else {
				d.flush(ccDevice(0, dev, 0))
			}
			d.flush(iotlbDSI(next.did))
			d.sync()
			d.attached[dev] = next
			cur = next
			step = fmt.Sprintf("step %d: switch in place to did %d", i, next.did)
		default:
			d.detach(dev)
			cur = nil
			step = fmt.Sprintf("step %d: detach", i)
		}
		c.verify(t, d, cur, step)
		for j := 0; j < 4; j++ {
			iova := rng.Uint64N(16<<30) &^ 0xfff
			if cur != nil {
				if ls := d.refWalk(cur); len(ls) > 0 && j < 2 {
					l := ls[rng.IntN(len(ls))]
					iova = l.iova + rng.Uint64N(l.size)
				}
			}
			checkTranslate(t, d, as, cur, iova, step)
		}
	}
	t.Logf("%d submissions, %d descriptors, %d KiB of tables; type1 %+v", d.submissions, d.descriptors, (e.next-1<<20)>>10, c.type1.Counts())
}
