// The Go peer of xcoro-channel-bench: channel ping-pong between two goroutines on one
// OS thread (GOMAXPROCS=1), for an unbuffered channel and capacities 1 and 64. Standard
// library only, so it builds offline with `go build`.
//
// Usage: xcoro-go-peer -cap 0|1|64 [-n 1000000]
// Prints one line: the nanoseconds per one-way message (a round trip is two messages).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

// pingPong sends n/2 values from one goroutine to the other, each sent straight back, over
// two channels of capacity c; it returns the elapsed time for the n one-way messages.
func pingPong(c int, n int) time.Duration {
	ab := make(chan int, c)
	ba := make(chan int, c)
	done := make(chan struct{})
	rounds := n / 2
	go func() {
		for i := 0; i < rounds; i++ {
			ba <- <-ab
		}
		close(done)
	}()
	start := time.Now()
	for i := 0; i < rounds; i++ {
		ab <- i
		<-ba
	}
	elapsed := time.Since(start)
	<-done
	return elapsed
}

func main() {
	capacity := flag.Int("cap", 0, "channel capacity (0: unbuffered)")
	n := flag.Int("n", 1000000, "one-way messages to time")
	flag.Parse()
	if *capacity < 0 || *n < 2 {
		fmt.Fprintln(os.Stderr, "usage: xcoro-go-peer -cap 0|1|64 [-n 1000000]")
		os.Exit(2)
	}
	// One OS thread runs Go code, as one OS thread runs the C++ coroutines and fibers.
	runtime.GOMAXPROCS(1)
	// Warm-up: the first run pays for stack growth and the scheduler's first steps.
	pingPong(*capacity, *n/10+2)
	elapsed := pingPong(*capacity, *n)
	fmt.Printf("%.2f\n", float64(elapsed.Nanoseconds())/float64(*n/2*2))
}
