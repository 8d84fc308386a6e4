package sqlstore

import (
	"sync"
	"time"
)

// ticker runs a store's background chore (checkpoints, folds) every interval on a
// goroutine of its own, until stop returns.
type ticker struct {
	quit chan struct{}
	wg   sync.WaitGroup
}

func startTicker(every time.Duration, chore func()) *ticker {
	t := &ticker{quit: make(chan struct{})}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-t.quit:
				return
			case <-tk.C:
				chore()
			}
		}
	}()
	return t
}

func (t *ticker) stop() {
	close(t.quit)
	t.wg.Wait()
}
