// The Go peer of xcoro-channel-bench, on one OS thread (GOMAXPROCS=1): (1) channel
// ping-pong between two goroutines, for an unbuffered channel and capacities 1 and 64;
// (2) N goroutines through one channel of capacity 64; (3) waiting for N goroutines that
// each yield once, the counterpart of xawait_all. Standard library only, so it builds
// offline with `go build`.
//
// Usage: xcoro-go-peer -cap 0|1|64 [-n 1000000]
//        xcoro-go-peer -scale senders|receivers -n N
//        xcoro-go-peer -awaitall -n N
// Prints one line: nanoseconds per one-way message (ping-pong; a round trip is two), per
// message (scale) or per goroutine (awaitall).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
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

// scale starts n goroutines that each send one value (senders) or receive one (receivers)
// on a channel of capacity 64, with one goroutine on the other side, and returns the time
// until all n values have passed and every goroutine has finished: the same work as a row
// of xcoro-channel-bench's scaling table (spawn + drain + free).
func scale(senders bool, n int) time.Duration {
	ch := make(chan int, 64)
	var wg sync.WaitGroup
	var sum int
	start := time.Now()
	wg.Add(n + 1)
	if senders {
		go func() {
			for i := 0; i < n; i++ {
				sum += <-ch
			}
			wg.Done()
		}()
		for i := 0; i < n; i++ {
			go func(v int) { ch <- v; wg.Done() }(i)
		}
	} else {
		var mu sync.Mutex // uncontended on one thread; keeps the race detector quiet
		for i := 0; i < n; i++ {
			go func() { v := <-ch; mu.Lock(); sum += v; mu.Unlock(); wg.Done() }()
		}
		go func() {
			for i := 0; i < n; i++ {
				ch <- i
			}
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if sum != n*(n-1)/2 {
		fmt.Fprintln(os.Stderr, "xcoro-go-peer: scale: wrong sum")
		os.Exit(1)
	}
	return elapsed
}

// awaitAll starts n goroutines that each yield once and waits for all of them.
func awaitAll(n int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { runtime.Gosched(); wg.Done() }()
	}
	wg.Wait()
	return time.Since(start)
}

func main() {
	capacity := flag.Int("cap", 0, "channel capacity (0: unbuffered)")
	n := flag.Int("n", 1000000, "one-way messages to time, or N for -scale and -awaitall")
	scaleCase := flag.String("scale", "", "senders or receivers: N goroutines through one channel")
	await := flag.Bool("awaitall", false, "wait for N goroutines that each yield once")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	if *scaleCase != "" || *await {
		if *n < 1 || (*scaleCase != "" && *scaleCase != "senders" && *scaleCase != "receivers") {
			fmt.Fprintln(os.Stderr, "usage: xcoro-go-peer -scale senders|receivers -n N | -awaitall -n N")
			os.Exit(2)
		}
		var elapsed time.Duration
		if *await {
			awaitAll(*n) // warm-up, as xcoro-channel-bench warms its pool
			elapsed = awaitAll(*n)
		} else {
			elapsed = scale(*scaleCase == "senders", *n)
		}
		fmt.Printf("%.2f\n", float64(elapsed.Nanoseconds())/float64(*n))
		return
	}
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
