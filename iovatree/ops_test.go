package iovatree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// opReader decodes a fuzzer's byte string into operation parameters. It
// never fails: past the end it returns zeros. Addresses and sizes come
// mostly from a small universe (multiples of small pages, values next to
// 0 and 2^64) so that operations collide, and sometimes raw 64-bit values.
type opReader struct {
	b []byte
}

func (r *opReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *opReader) u64() uint64 {
	var buf [8]byte
	n := copy(buf[:], r.b)
	r.b = r.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

func (r *opReader) addr() uint64 {
	c := r.byte()
	v := uint64(c & 63)
	switch c >> 6 {
	case 0:
		return v * 0x1000
	case 1:
		return v*0x1000 + uint64(r.byte())
	case 2:
		return math.MaxUint64 - v*0x1000 - uint64(r.byte()&3)
	}
	return r.u64()
}

func (r *opReader) size() uint64 {
	c := r.byte()
	v := uint64(c & 63)
	switch c >> 6 {
	case 0:
		return (v + 1) * 0x1000
	case 1:
		return v
	case 2:
		return []uint64{0, 1, 2, 0x1000, 0x200000, 0x40000000, 1 << 63, math.MaxUint64, math.MaxUint64 - 0xfff}[v%9]
	}
	return r.u64()
}

// runOps applies the operations encoded in data to a Tree and to the
// model, and reports the first difference, or the first broken invariant.
func runOps(data []byte) error {
	r := &opReader{b: data}
	var t Tree
	var md model
	for op := 0; len(r.b) > 0; op++ {
		code := r.byte()
		what, err := applyOp(code%12, r, &t, &md)
		if err != nil {
			return fmt.Errorf("op %d (%s): %v", op, what, err)
		}
		if err := t.check(); err != nil {
			return fmt.Errorf("op %d (%s): invariant: %v", op, what, err)
		}
		if t.Len() != len(md.m) {
			return fmt.Errorf("op %d (%s): Len %d, model %d", op, what, t.Len(), len(md.m))
		}
	}
	got := slices.Collect(t.All())
	if !slices.Equal(got, md.m) {
		return fmt.Errorf("final contents differ:\n tree  %v\n model %v", got, md.m)
	}
	return nil
}

func applyOp(code byte, r *opReader, t *Tree, md *model) (string, error) {
	switch code {
	case 0, 1: // Insert (twice as likely)
		m := Mapping{IOVA: r.addr(), Size: r.size(), Addr: r.addr(), Perm: Perm(r.byte() % 5)}
		what := fmt.Sprintf("Insert(%v)", m)
		got, want := t.Insert(m), md.insert(m)
		if sentinel(got) != sentinel(want) {
			return what, fmt.Errorf("error %v, model %v", got, want)
		}
		if want != nil {
			var ge, we *RangeError
			if !errors.As(got, &ge) || !errors.As(want, &we) {
				return what, fmt.Errorf("error %v is not a *RangeError", got)
			}
			if ge.Conflict != we.Conflict {
				return what, fmt.Errorf("conflict %v, model %v", ge.Conflict, we.Conflict)
			}
		}
		return what, nil
	case 2: // Find
		x := r.addr()
		what := fmt.Sprintf("Find(%#x)", x)
		g, gok := t.Find(x)
		w, wok := md.find(x)
		if g != w || gok != wok {
			return what, fmt.Errorf("got %v %v, model %v %v", g, gok, w, wok)
		}
		return what, nil
	case 3: // Overlap / OverlapSpan
		a, s := r.addr(), r.size()
		what := fmt.Sprintf("Overlap(%#x, %#x)", a, s)
		g, gok := t.Overlap(a, s)
		var w Mapping
		var wok bool
		if s != 0 {
			w, wok = md.overlapSpan(a, lastOf(a, s))
		}
		if g != w || gok != wok {
			return what, fmt.Errorf("got %v %v, model %v %v", g, gok, w, wok)
		}
		g, gok = t.OverlapSpan(a, s)
		w, wok = md.overlapSpan(a, s)
		if g != w || gok != wok {
			return what, fmt.Errorf("OverlapSpan(%#x, %#x): got %v %v, model %v %v", a, s, g, gok, w, wok)
		}
		return what, nil
	case 4: // Remove
		a, s := r.addr(), r.size()
		what := fmt.Sprintf("Remove(%#x, %#x)", a, s)
		dst := []Mapping{{IOVA: 7}} // Remove must append, not overwrite
		got := t.Remove(a, s, dst)
		var want []Mapping
		if s != 0 {
			want = md.removeSpan(a, lastOf(a, s))
		}
		if !slices.Equal(got, append([]Mapping{{IOVA: 7}}, want...)) {
			return what, fmt.Errorf("removed %v, model %v", got[1:], want)
		}
		return what, nil
	case 5: // RemoveSpan
		a, b := r.addr(), r.addr()
		what := fmt.Sprintf("RemoveSpan(%#x, %#x)", a, b)
		got, want := t.RemoveSpan(a, b, nil), md.removeSpan(a, b)
		if !slices.Equal(got, want) {
			return what, fmt.Errorf("removed %v, model %v", got, want)
		}
		return what, nil
	case 6: // FindAddr
		a := r.addr()
		what := fmt.Sprintf("FindAddr(%#x)", a)
		g, gok := t.FindAddr(a)
		w, wok := md.findAddr(a)
		if g != w || gok != wok {
			return what, fmt.Errorf("got %v %v, model %v %v", g, gok, w, wok)
		}
		return what, nil
	case 7: // Range and Span
		a, s := r.addr(), r.size()
		what := fmt.Sprintf("Range(%#x, %#x)", a, s)
		got := slices.Collect(t.Range(a, s))
		var want []Mapping
		if s != 0 {
			want = md.span(a, lastOf(a, s))
		}
		if !slices.Equal(got, want) {
			return what, fmt.Errorf("got %v, model %v", got, want)
		}
		if got, want = slices.Collect(t.Span(a, s)), md.span(a, s); !slices.Equal(got, want) {
			return what, fmt.Errorf("Span(%#x, %#x): got %v, model %v", a, s, got, want)
		}
		return what, nil
	case 8: // FreeRange
		lo, hi, s, al := r.addr(), r.addr(), r.size(), uint64(r.byte())<<(r.byte()%40)
		what := fmt.Sprintf("FreeRange(%#x, %#x, %#x, %#x)", lo, hi, s, al)
		g, gerr := t.FreeRange(lo, hi, s, al)
		w, werr := md.freeRange(lo, hi, s, al)
		if g != w || sentinel(gerr) != sentinel(werr) {
			return what, fmt.Errorf("got %#x %v, model %#x %v", g, gerr, w, werr)
		}
		return what, nil
	case 9: // bulk insert of a run, to grow multi-level trees
		base, n, stride, size := r.addr(), int(r.byte())*16, r.size()|1, r.size()
		what := fmt.Sprintf("bulk(%#x, %d, %#x, %#x)", base, n, stride, size)
		desc := r.byte()&1 == 1
		for i := 0; i < n; i++ {
			k := uint64(i)
			if desc {
				k = uint64(n - 1 - i)
			}
			m := Mapping{IOVA: base + k*stride, Size: size, Addr: k << 12, Perm: PermRW}
			got, want := t.Insert(m), md.insert(m)
			if sentinel(got) != sentinel(want) {
				return what, fmt.Errorf("Insert(%v): error %v, model %v", m, got, want)
			}
		}
		return what, nil
	case 10: // iterate and change the tree from the loop body
		first, last, k := r.addr(), r.addr(), int(r.byte()%8)
		ra, rs := r.addr(), r.size()
		ins := Mapping{IOVA: r.addr(), Size: r.size(), Addr: 0x5000, Perm: PermRead}
		what := fmt.Sprintf("Span(%#x, %#x) changing at %d", first, last, k)
		var got []Mapping
		var gerr error
		for m := range t.Span(first, last) {
			got = append(got, m)
			if len(got) == k+1 {
				t.Remove(ra, rs, nil)
				gerr = t.Insert(ins)
			}
		}
		// Expected, by the documented rule: after a change, resume with
		// the first mapping that ends after the last one yielded.
		var want []Mapping
		var werr error
		pos := first
	outer:
		for {
			for _, m := range md.span(pos, last) {
				want = append(want, m)
				if len(want) == k+1 {
					if rs != 0 {
						md.removeSpan(ra, lastOf(ra, rs))
					}
					werr = md.insert(ins)
					if m.Last() >= last {
						break outer
					}
					pos = m.Last() + 1
					continue outer
				}
				if m.Last() >= last {
					break outer
				}
			}
			break
		}
		if !slices.Equal(got, want) || sentinel(gerr) != sentinel(werr) {
			return what, fmt.Errorf("got %v %v, model %v %v", got, gerr, want, werr)
		}
		return what, nil
	}
	// 11: Clear
	t.Clear()
	md.m = nil
	if t.MemoryBytes() != 0 {
		return "Clear", fmt.Errorf("MemoryBytes %d after Clear", t.MemoryBytes())
	}
	return "Clear", nil
}
