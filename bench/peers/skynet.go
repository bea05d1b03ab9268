// The Go peer of xcoro-skynet-bench: the skynet benchmark, 10^6 goroutines in a tree of
// fan-out 10; each leaf sends its index to its parent over a channel and each inner node
// sends the sum of its children's. Standard library only, so that it builds offline.
//
//	xcoro-go-skynet [-n 1000000] [-repeat 5] [-warmup 1]
//
// GOMAXPROCS comes from the environment. After `warmup` runs that are not shown (the heap
// grows to its working size), prints one line per run: the seconds it took.
// Exits with status 1 if a sum is wrong.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// skynet sends the sum of the indices num .. num+size-1 on c, computed by a tree of
// goroutines of fan-out div whose leaves are single indices.
func skynet(c chan<- uint64, num, size, div uint64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan uint64, div)
	sub := size / div
	for i := uint64(0); i < div; i++ {
		go skynet(rc, num+i*sub, sub, div)
	}
	var sum uint64
	for i := uint64(0); i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func main() {
	n := flag.Uint64("n", 1000000, "leaves (a power of 10)")
	repeat := flag.Int("repeat", 5, "timed runs")
	warmup := flag.Int("warmup", 1, "runs before the timed ones")
	flag.Parse()
	want := *n * (*n - 1) / 2
	for r := -*warmup; r < *repeat; r++ {
		t0 := time.Now()
		c := make(chan uint64, 1)
		go skynet(c, 0, *n, 10)
		sum := <-c
		s := time.Since(t0).Seconds()
		if sum != want {
			fmt.Fprintf(os.Stderr, "xcoro-go-skynet: sum %d, want %d\n", sum, want)
			os.Exit(1)
		}
		if r >= 0 {
			fmt.Printf("%.6f\n", s)
		}
	}
}
