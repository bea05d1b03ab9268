// The Go peer of bench/io/ping_pongs: P client/server pairs of TCP connections over
// 127.0.0.1 in one process on one OS thread (GOMAXPROCS=1), a goroutine per side. Each
// client writes "PING" and reads the whole "PONG" until the time is up; each server side
// reads whole "PING"s and answers "PONG". Standard library only, so it builds offline.
//
// Usage: xcoro-go-pingpongs [PAIRS] [SECONDS]
// Prints one line in ping_pongs' format: the round trips per second.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var ping = []byte("PING")
var pong = []byte("PONG")

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4)
	for {
		if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, ping) {
			return
		}
		if _, err := c.Write(pong); err != nil {
			return
		}
	}
}

func pinger(addr string, until time.Time) int64 {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return -1
	}
	defer c.Close()
	buf := make([]byte, 4)
	var pongs int64
	for time.Now().Before(until) {
		if _, err := c.Write(ping); err != nil {
			return -1
		}
		if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, pong) {
			return -1
		}
		pongs++
	}
	return pongs
}

func main() {
	pairs, seconds := 1, 5.0
	var err error
	if len(os.Args) > 1 {
		if pairs, err = strconv.Atoi(os.Args[1]); err != nil || pairs <= 0 {
			fmt.Fprintln(os.Stderr, "usage: xcoro-go-pingpongs [PAIRS] [SECONDS]")
			os.Exit(2)
		}
	}
	if len(os.Args) > 2 {
		if seconds, err = strconv.ParseFloat(os.Args[2], 64); err != nil || seconds <= 0 {
			fmt.Fprintln(os.Stderr, "usage: xcoro-go-pingpongs [PAIRS] [SECONDS]")
			os.Exit(2)
		}
	}
	runtime.GOMAXPROCS(1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcoro-go-pingpongs: cannot listen:", err)
		os.Exit(3)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	start := time.Now()
	until := start.Add(time.Duration(seconds * float64(time.Second)))
	counts := make([]int64, pairs)
	var wg sync.WaitGroup
	wg.Add(pairs)
	for i := 0; i < pairs; i++ {
		go func(i int) { counts[i] = pinger(l.Addr().String(), until); wg.Done() }(i)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var total int64
	for _, n := range counts {
		if n < 0 {
			fmt.Fprintln(os.Stderr, "xcoro-go-pingpongs: a pinger failed")
			os.Exit(1)
		}
		total += n
	}
	plural := "s"
	if pairs == 1 {
		plural = ""
	}
	fmt.Printf("go ping_pongs: %d pair%s, %.1f s: %d round trips, %.0f round trips/s\n", pairs,
		plural, elapsed, total, float64(total)/elapsed)
}
