package options

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in      string
		want    []Pair
		wantErr bool
	}{
		{"", nil, false},
		{"  ", nil, false},
		{"a=1", []Pair{{"a", "1"}}, false},
		{" a=1 , b=on", []Pair{{"a", "1"}, {"b", "on"}}, false},
		{"a=", []Pair{{"a", ""}}, false},
		{"a", nil, true},
		{"=1", nil, true},
		{"a=1,a=2", nil, true},
		{"a=1,,b=2", nil, true},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrSyntax)) {
			t.Errorf("Split(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Split(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestOnOff(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want bool
		ok   bool
	}{{"on", true, true}, {"off", false, true}, {"yes", false, false}, {"", false, false}} {
		got, err := Pair{"k", tt.v}.OnOff()
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("OnOff(%q) = %v, %v", tt.v, got, err)
		}
		if err == nil && OnOff(got) != tt.v {
			t.Errorf("OnOff(%v) = %q", got, OnOff(got))
		}
	}
}
