package notifier

import (
	"errors"
	"fmt"
)

// Sentinel errors for requests the Hub refuses before delivering anything.
// They are returned wrapped with the offending range or value; test them
// with errors.Is.
var (
	// ErrKind: an event kind that is not exactly one of Map, Unmap,
	// DevIOTLBUnmap (Notify), a Map given to NotifyRange, or a registration
	// mask that is empty or has undefined bits (Register).
	ErrKind = errors.New("notifier: invalid event kind")
	// ErrZeroSize: an event of zero bytes.
	ErrZeroSize = errors.New("notifier: zero-size range")
	// ErrWrap: an event whose IOVA range, or whose translated address
	// range for a Map, runs past 2^64-1.
	ErrWrap = errors.New("notifier: range wraps past 2^64")
	// ErrRange: an inclusive range with first > last.
	ErrRange = errors.New("notifier: range has first > last")
	// ErrPerm: a Map with no permission, or a permission with bits other
	// than PermRead and PermWrite.
	ErrPerm = errors.New("notifier: invalid permission")
	// ErrNilNotifier: Register was given a nil Notifier.
	ErrNilNotifier = errors.New("notifier: nil Notifier")
)

// DeliveryError reports that a Notifier returned an error. It is returned by
// Hub.Notify and Hub.NotifyRange (several are joined with errors.Join when
// several registrations failed an unmap) and, wrapped, by Hub.Register when
// the replay failed.
//
// Err is the Notifier's error (errors.Is and errors.As see through to it,
// for example to a unix.Errno). For a Map, the hub has already rolled back:
// Rollback holds the errors of the compensating Unmap deliveries, nil when
// every one of them succeeded.
type DeliveryError struct {
	Handle      Handle // the registration whose Notifier failed
	Kind        Kind   // the kind being delivered
	SID         uint32 // the hub's requester ID
	First, Last uint64 // the requested range, inclusive, before cropping
	Block       Event  // the block whose delivery failed
	Err         error  // what the Notifier returned
	Rollback    error  // errors of the rollback Unmaps (Map only), or nil
}

// Error describes the failure, naming the offending address or value.
func (e *DeliveryError) Error() string {
	msg := fmt.Sprintf("notifier: %s of IOVA [%#x, %#x] for SID %#x: registration %d failed at [%#x, %#x]: %v",
		e.Kind, e.First, e.Last, e.SID, e.Handle, e.Block.IOVA, e.Block.Last(), e.Err)
	if e.Rollback != nil {
		msg += fmt.Sprintf("; rollback: %v", e.Rollback)
	}
	return msg
}

// Unwrap returns Err and, when set, Rollback.
func (e *DeliveryError) Unwrap() []error {
	if e.Rollback != nil {
		return []error{e.Err, e.Rollback}
	}
	return []error{e.Err}
}
