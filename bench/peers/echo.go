// The Go peer of bench/io: a TCP server on one OS thread running Go code (GOMAXPROCS=1;
// -procs N for N), one goroutine per connection, standard library only so that it builds
// offline.
//
//	xcoro-go-echo -port N          echo every byte back (the echo benchmark)
//	xcoro-go-echo -port N -procs 2 the same with GOMAXPROCS=2 (run.sh --threads 2)
//	xcoro-go-echo -port N -http    answer "hello" to every request, with the same request
//	                               scan as examples/http_hello.cpp (the wrk benchmark)
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
)

var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" +
	"Content-Length: 6\r\n\r\nhello\n")

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return // end of stream or reset: the client closes with RST
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

// hello scans requests for their end only ("\r\n\r\n"), as examples/http_hello.cpp does,
// so that both servers do the same work per request.
func hello(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 8192)
	have := 0
	sep := []byte("\r\n\r\n")
	for {
		n, err := c.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		consumed := 0
		for {
			end := bytes.Index(buf[consumed:have], sep)
			if end < 0 {
				break
			}
			if _, err := c.Write(response); err != nil {
				return
			}
			consumed += end + 4
		}
		copy(buf, buf[consumed:have])
		have -= consumed
		if have == len(buf) {
			return // a request too large for this server
		}
	}
}

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1")
	http := flag.Bool("http", false, "serve the HTTP hello instead of echo")
	procs := flag.Int("procs", 1, "OS threads running Go code (GOMAXPROCS); bench/io/run.sh --threads")
	flag.Parse()
	if *procs < 1 {
		fmt.Fprintln(os.Stderr, "xcoro-go-echo: -procs must be at least 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "xcoro-go-echo:", err)
		os.Exit(3)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		if *http {
			go hello(c)
		} else {
			go echo(c)
		}
	}
}
