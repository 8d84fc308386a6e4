// Package notify delivers notifications that are never lost: a domain transaction
// writes a notification into the outbox together with the change that causes it, and
// a dispatcher (any number of them, on any instance) claims due notifications with a
// lease, POSTs them, and on anything but success tries again on WeChat Pay's schedule:
// 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h after each
// failed attempt, 24h04m in all, then the notification is dead. Delivery is at least
// once: a receiver may see a notification twice and must deduplicate by its id.
package notify

import (
	"context"
	"net/http"
	"time"
)

// Gaps are the waits after each failed attempt; 16 attempts in all.
var Gaps = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute,
	20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute, 60 * time.Minute,
	3 * time.Hour, 3 * time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour,
}

// MaxAttempts is the first attempt plus one per gap.
var MaxAttempts = len(Gaps) + 1

// States of a notification.
const (
	Pending   = "pending"
	Delivered = "delivered"
	Dead      = "dead"
)

// Formats the dispatcher knows how to render.
const (
	FormatV2Refund = "v2_refund" // XML with req_info sealed by the merchant's API key
	FormatV3       = "v3"        // JSON envelope with an AEAD_AES_256_GCM resource, signed headers
)

// Notification is one message to one merchant URL.
type Notification struct {
	ID         string
	MchID      string
	Format     string
	EventType  string
	URL        string
	Payload    []byte // the domain's content, rendered at each attempt
	State      string
	Attempts   int
	NextAt     time.Time
	CreatedAt  time.Time
	FinishedAt time.Time
}

// Attempt is one delivery try.
type Attempt struct {
	N          int
	DueAt      time.Time
	StartedAt  time.Time
	HTTPStatus int // 0: no answer
	Latency    time.Duration
	AnswerHead string // the first bytes of the answer
	Error      string
}

// Outbox is what a domain transaction writes notifications into.
type Outbox interface {
	InsertNotification(ctx context.Context, n Notification) error
}

// Store is what the dispatcher needs.
type Store interface {
	// Claim leases up to limit due pending notifications to owner until now+lease;
	// a notification leased to someone else whose lease has not run out is skipped.
	Claim(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// Record stores an attempt and the notification's new state, only while owner
	// still holds the lease; false when it does not (another instance took over).
	Record(ctx context.Context, owner string, n Notification, a Attempt) (bool, error)
	Notifications(ctx context.Context, state string, limit int) ([]Notification, error)
	Notification(ctx context.Context, id string) (Notification, []Attempt, error)
	// Requeue makes a notification pending again, due at now.
	Requeue(ctx context.Context, id string, now time.Time) error
}

// Renderer turns a notification into a request and judges the answer; the protocol
// edges implement it.
type Renderer interface {
	Render(ctx context.Context, n Notification) (body []byte, header http.Header, err error)
	Success(format string, status int, body []byte) bool
}

// Next is the due time after attempt number n (1-based) failed at its due time due,
// and false when n was the last attempt.
func Next(n int, due time.Time) (time.Time, bool) {
	if n < 1 || n > len(Gaps) {
		return time.Time{}, false
	}
	return due.Add(Gaps[n-1]), true
}
