// The Go peer of bench/io/million_timers: N goroutines that each sleep (the timeout going
// up by 1 ms every 1,000 timers, as in libuv's benchmark) and then count themselves, on
// one OS thread (GOMAXPROCS=1). A goroutine per timer is Go's counterpart of xcoro's
// coroutine + aio::sleep per timer. Standard library only, so it builds offline.
//
// Usage: xcoro-go-timers [N]
// Prints the same phases as million_timers (init: starting the goroutines; dispatch: until
// the last has fired) and timers/s over the whole.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintln(os.Stderr, "usage: xcoro-go-timers [N]")
			os.Exit(2)
		}
		n = v
	}
	runtime.GOMAXPROCS(1)
	var fired atomic.Int64
	var wg sync.WaitGroup
	wg.Add(n)
	start := time.Now()
	timeout := 0
	for i := 0; i < n; i++ {
		if i%1000 == 0 {
			timeout++
		}
		go func(ms int) {
			time.Sleep(time.Duration(ms) * time.Millisecond)
			fired.Add(1)
			wg.Done()
		}(timeout)
	}
	init := time.Since(start)
	wg.Wait()
	total := time.Since(start)
	if fired.Load() != int64(n) {
		fmt.Fprintf(os.Stderr, "xcoro-go-timers: %d of %d timers fired\n", fired.Load(), n)
		os.Exit(1)
	}
	fmt.Printf("go timers: %d timers (goroutine + time.Sleep each)\n", n)
	fmt.Printf("  %.2f seconds total\n", total.Seconds())
	fmt.Printf("  %.2f seconds init\n", init.Seconds())
	fmt.Printf("  %.2f seconds dispatch (the last timer is due after %d ms)\n",
		(total - init).Seconds(), timeout)
	fmt.Printf("  %.0f timers/s (N / total)\n", float64(n)/total.Seconds())
}
