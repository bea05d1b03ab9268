// The Go peer of xcoro-runtime-bench, on two OS threads running Go code (GOMAXPROCS=2):
// (1) channel ping-pong between two goroutines over two channels of capacity 0 or 1;
// (2) the wake-up latency of a goroutine blocked in a channel receive, from a send stamped
// with the time by another goroutine that pauses between sends. Standard library only, so
// it builds offline with `go build`.
//
// Usage:
//
//	xcoro-go-peer-mt -cap 0|1 [-n 20000] [-lock]
//	xcoro-go-peer-mt -wake [-n 10000] [-pause-us 1000] [-lock]
//
// -lock wires each goroutine to an OS thread of its own (runtime.LockOSThread), so that a
// message must cross threads; without it Go's scheduler places them (a goroutine woken by
// a send usually runs next on the sender's thread).
// Prints one line: nanoseconds per one-way message (ping-pong; a round trip is two), or
// the median and 99th percentile wake-up latency in microseconds (-wake).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
)

// pingPong sends n/2 values from one goroutine to the other, each sent straight back, over
// two channels of capacity c, and returns the elapsed time for the n one-way messages.
func pingPong(c int, n int, lock bool) time.Duration {
	ab := make(chan int, c)
	ba := make(chan int, c)
	ready := make(chan struct{})
	done := make(chan struct{})
	rounds := n / 2
	go func() {
		if lock {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		close(ready)
		for i := 0; i < rounds; i++ {
			ba <- <-ab
		}
		close(done)
	}()
	if lock {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	<-ready
	start := time.Now()
	for i := 0; i < rounds; i++ {
		ab <- i
		<-ba
	}
	elapsed := time.Since(start)
	<-done
	return elapsed
}

// wake has one goroutine receive n time stamps that another sends, pausing `pause` before
// each so that the receiver's thread has time to go idle; returns the latencies from each
// stamp to the receiver running, sorted.
func wake(n int, pause time.Duration, lock bool) []time.Duration {
	ch := make(chan time.Time, 1)
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	go func() {
		if lock {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		for i := 0; i < n; i++ {
			t := <-ch
			lat = append(lat, time.Since(t))
		}
		close(done)
	}()
	if lock {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	for i := 0; i < n; i++ {
		time.Sleep(pause)
		ch <- time.Now()
	}
	<-done
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

func main() {
	capacity := flag.Int("cap", 0, "channel capacity (0: unbuffered)")
	n := flag.Int("n", 20000, "one-way messages to time, or wake-up samples for -wake")
	wakeCase := flag.Bool("wake", false, "measure the wake-up latency of a blocked receiver")
	pauseUs := flag.Int("pause-us", 1000, "-wake: microseconds the sender sleeps before each send")
	lock := flag.Bool("lock", false, "wire each goroutine to an OS thread of its own")
	flag.Parse()
	runtime.GOMAXPROCS(2)
	if *wakeCase {
		if *n < 100 || *pauseUs < 0 {
			fmt.Fprintln(os.Stderr, "usage: xcoro-go-peer-mt -wake [-n >= 100] [-pause-us 1000] [-lock]")
			os.Exit(2)
		}
		wake(*n/10, time.Duration(*pauseUs)*time.Microsecond, *lock) // warm-up
		lat := wake(*n, time.Duration(*pauseUs)*time.Microsecond, *lock)
		us := func(q float64) float64 {
			return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3
		}
		fmt.Printf("%.2f %.2f\n", us(0.5), us(0.99))
		return
	}
	if *capacity < 0 || *n < 2 {
		fmt.Fprintln(os.Stderr, "usage: xcoro-go-peer-mt -cap 0|1 [-n 20000] [-lock]")
		os.Exit(2)
	}
	// Warm-up: the first run pays for stack growth and the scheduler's first steps.
	pingPong(*capacity, *n/10+2, *lock)
	elapsed := pingPong(*capacity, *n, *lock)
	fmt.Printf("%.2f\n", float64(elapsed.Nanoseconds())/float64(*n/2*2))
}
