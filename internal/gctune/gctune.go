// Package gctune sets the garbage collector's pace for a process whose live heap is
// small and whose garbage is not: a payment leaves about 38 KB of garbage and a few MB
// stay live, so with the default GOGC=100 the collector ran about every 5 MB
// allocated, some fifty cycles a second under load, and its marking and assists were
// about a tenth of the process's CPU. Floor lets the heap grow by at least a fixed
// amount between cycles, and by the live heap (GOGC=100) once that is larger, so a
// process holding a large face library keeps the default pace and its memory bound.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Floor sets, after every collection, the GC percent that lets the heap grow by
// max(live heap, floor) bytes before the next one. It does nothing when the GOGC
// environment variable is set: the operator's pace wins. stop ends the tuning and
// puts back the percent Floor found.
func Floor(floor uint64) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set || floor == 0 {
		return func() {}
	}
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	var stopped atomic.Bool
	t := &tuner{floor: floor, stopped: &stopped, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.arm()
	return func() {
		stopped.Store(true)
		debug.SetGCPercent(before)
	}
}

// tuner runs after each collection: a finalizer on an object nothing keeps runs once
// the collector has found it unreachable, and re-arms with a new one.
type tuner struct {
	floor   uint64
	stopped *atomic.Bool
	sample  []metrics.Sample
}

type sentinel struct{ t *tuner }

func (t *tuner) arm() {
	s := &sentinel{t: t}
	runtime.SetFinalizer(s, func(s *sentinel) { s.t.collected() })
}

func (t *tuner) collected() {
	if t.stopped.Load() {
		return
	}
	debug.SetGCPercent(Percent(t.live(), t.floor))
	t.arm()
}

func (t *tuner) live() uint64 {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return t.sample[0].Value.Uint64()
}

// Percent is the GC percent that lets a heap of live bytes grow by max(live, floor)
// before the next collection: 100 once live reaches floor, and at most 10 000.
func Percent(live, floor uint64) int {
	if live >= floor {
		return 100
	}
	if live < floor/100 {
		return 10_000
	}
	return int(floor * 100 / live)
}
