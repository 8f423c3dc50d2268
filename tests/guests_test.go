package tests

import (
	"strings"
	"testing"

	"github.com/govmm/govmm/tests/testhost"
)

// checkGuests boots guests one after the other in one test-host session
// and checks each result in the subtest names[i]: a VMM that did not exit
// 0, and the problems check returns (r is the guest's report), fail it with
// the set-up and after-script output and the end of the console.
func checkGuests(t *testing.T, h *testhost.Host, names []string, guests []testhost.Guest, check func(i int, res *testhost.Result, r guestReport) []string) {
	t.Helper()
	results, err := h.RunSeq(t.Context(), testhost.L1Options{}, guests...)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			res := results[i]
			t.Log(res.Summary())
			p := append(exitProblems(res), check(i, res, parseGuestReport(res.Serial))...)
			if len(p) == 0 {
				return
			}
			msg := strings.Join(p, "\n")
			if res.SetupLog != "" {
				msg += "\nsetup: " + res.SetupLog
			}
			if res.After != "" {
				msg += "\nafter: " + res.After
			}
			t.Errorf("%s\n%s", msg, res.Tail(40))
		})
	}
}
